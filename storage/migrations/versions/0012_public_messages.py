"""Villagers' messages to their branch (群众留言), and a deed's photo.

A message is not anonymous (unlike a ballot or a comment): the villager writes so that the
branch can answer, so it keeps who sent it; the secretary sees the name and a masked number.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "public_messages",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=True),
        # The message it came in (once per inbound message, so a retry keeps it once).
        sa.Column(
            "inbound_id", Id, sa.ForeignKey("inbound_messages.id"), nullable=True, unique=True
        ),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attachment_url", sa.Text, nullable=True),  # a photo sent with it
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.CheckConstraint("status IN ('new', 'read')", name="ck_public_messages_status"),
    )
    op.create_index("ix_public_messages_org_time", "public_messages", ["org_id", "created_at"])
    op.create_index(
        "ix_public_messages_person_time", "public_messages", ["person_id", "created_at"]
    )
    # A photo sent as (or with) a report: its URL (MMS) or "telegram:<file_id>".
    op.add_column("deeds", sa.Column("attachment_url", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deeds") as batch:
        batch.drop_column("attachment_url")
    op.drop_index("ix_public_messages_person_time", "public_messages")
    op.drop_index("ix_public_messages_org_time", "public_messages")
    op.drop_table("public_messages")
