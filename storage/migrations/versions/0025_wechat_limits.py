"""WeChat's sending limits, kept locally (storage/wechat_window.py).

wechat_quota: per follower (OpenID), the customer-service messages sent since their last
message (5 allowed within 48 hours of it) and the pushes sent this month outside that window
(mass sends: at most 4 a month per follower for a service account), so the outbox knows a
follower is out of reach before asking the platform.

platform_limits: one row per message a platform's limit kept from its recipient, with the
reason and the SMS message sent instead (if the person has a phone), so `broadcast status`
and the console can say why a WeChat recipient was not reached. No foreign key into the
outbox: it may be partitioned on PostgreSQL.

Revision ID: 0025
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0021"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wechat_quota",
        sa.Column("openid", sa.String(64), primary_key=True),
        sa.Column("window_from", Stamp, nullable=True),  # the follower's message counted from
        sa.Column("cs_sent", sa.Integer, nullable=False, server_default="0"),
        sa.Column("push_month", sa.String(7), nullable=True),  # YYYY-MM, Beijing time
        sa.Column("pushes", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "platform_limits",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", Id, nullable=False),
        sa.Column("broadcast_id", Id, nullable=True),
        sa.Column("address_kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),  # window, count, quota, platform
        sa.Column("code", sa.String(16), nullable=True),  # the platform's errcode, if it said
        sa.Column("fallback_id", Id, nullable=True),  # the outbox row sent by SMS instead
        sa.Column("created_at", Stamp, nullable=False),
        sa.UniqueConstraint("outbox_id", name="uq_platform_limits_outbox"),
    )
    op.create_index("ix_platform_limits_broadcast", "platform_limits", ["broadcast_id"])


def downgrade() -> None:
    op.drop_table("platform_limits")
    op.drop_table("wechat_quota")
