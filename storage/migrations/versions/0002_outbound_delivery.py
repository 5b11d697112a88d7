"""Outbound delivery: provider status, error code, segments and encoding per message.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The provider's own word on the message (Twilio: queued, sent, delivered...).
    op.add_column("outbox", sa.Column("channel_status", sa.String(16), nullable=True))
    op.add_column("outbox", sa.Column("error_code", sa.String(16), nullable=True))
    # What it cost: SMS segments and the encoding that decided them.
    op.add_column("outbox", sa.Column("segments", sa.Integer, nullable=True))
    op.add_column("outbox", sa.Column("encoding", sa.String(8), nullable=True))
    op.create_index("ix_outbox_provider_id", "outbox", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_provider_id", "outbox")
    for column in ("encoding", "segments", "error_code", "channel_status"):
        op.drop_column("outbox", column)
