"""Per-sender limits counted atomically (issue 12.7): one counter row per sender, action and
window, incremented in the statement that checks it, so a burst cannot walk past a limit.

The sender is an HMAC under the deployment's secret, not a person id or a number: a counter
of comments must not become a list of who commented when.

And the numbered lists the bot sent each address (12.8, 12.9): 推荐 2 means the second name
the bot listed to that sender, and 更多 continues the list they asked for last.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sender_limits",
        sa.Column("sender", sa.String(64), nullable=False),  # HMAC-SHA256, hex
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),  # epoch seconds // window length
        sa.Column("used", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("sender", "action", "bucket"),
    )
    op.create_table(
        "sender_lists",
        sa.Column("address_kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),  # "recommend", "more"
        sa.Column("payload", sa.Text, nullable=False),  # JSON
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address_kind", "address", "kind"),
    )


def downgrade() -> None:
    op.drop_table("sender_lists")
    op.drop_table("sender_limits")
