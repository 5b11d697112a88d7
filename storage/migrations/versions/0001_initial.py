"""Initial schema: organisations, people, addresses, roles, inbound log, deeds, outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# BIGINT identities on PostgreSQL; SQLite needs INTEGER PRIMARY KEY to autoincrement.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        _id(),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_id", Id, sa.ForeignKey("organisations.id"), nullable=True),
        sa.Column("theme", sa.Text, nullable=True),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
    )
    op.create_index("ix_organisations_parent", "organisations", ["parent_id"])

    op.create_table(
        "people",
        _id(),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
    )

    # An address can exist before it belongs to anyone: a stranger who texts TD is opted out.
    op.create_table(
        "addresses",
        _id(),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("opted_out_at", Stamp, nullable=True),
        sa.Column("invalid_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_addresses_kind_value"),
    )
    op.create_index("ix_addresses_person", "addresses", ["person_id"])

    op.create_table(
        "roles",
        _id(),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.UniqueConstraint("person_id", "org_id", "role", name="uq_roles_person_org_role"),
        sa.CheckConstraint(
            "role IN ('member', 'secretary', 'leader', 'public', 'admin')", name="ck_roles_role"
        ),
    )
    op.create_index("ix_roles_org_role", "roles", ["org_id", "role"])

    op.create_table(
        "inbound_messages",
        _id(),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=False),
        sa.Column("sender_kind", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attachments", sa.Text, nullable=True),  # JSON list of {url, content_type}
        sa.Column("received_at", Stamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="received"),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("handler", sa.String(32), nullable=True),
        sa.Column("reply", sa.Text, nullable=True),  # JSON list of replies, re-sent on a retry
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("handled_at", Stamp, nullable=True),
        sa.UniqueConstraint("channel", "provider_id", name="uq_inbound_channel_provider"),
        sa.CheckConstraint("status IN ('received', 'handled', 'failed')", name="ck_inbound_status"),
    )
    op.create_index("ix_inbound_status", "inbound_messages", ["status"])

    op.create_table(
        "deeds",
        _id(),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column(
            "inbound_id", Id, sa.ForeignKey("inbound_messages.id"), nullable=True, unique=True
        ),
        sa.Column("category", sa.String(16), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("local_day", sa.Date, nullable=False),  # the day in the branch's time zone
        sa.Column("created_at", Stamp, nullable=False),
        sa.CheckConstraint(
            "category IS NULL OR category IN "
            "('study', 'achievement', 'service', 'discipline', 'integrity')",
            name="ck_deeds_category",
        ),
    )
    op.create_index("ix_deeds_person_day", "deeds", ["person_id", "local_day"])
    op.create_index("ix_deeds_org_day", "deeds", ["org_id", "local_day"])

    op.create_table(
        "outbox",
        _id(),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("address_kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("choices", sa.Text, nullable=True),  # JSON list of {key, label}
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", Stamp, nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'cancelled')",
            name="ck_outbox_status",
        ),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before"])


def downgrade() -> None:
    for table in (
        "outbox",
        "deeds",
        "inbound_messages",
        "roles",
        "addresses",
        "people",
        "organisations",
    ):
        op.drop_table(table)
