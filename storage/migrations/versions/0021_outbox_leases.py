"""Short outbox claims renewed by a heartbeat, and one send rate for the whole deployment
(issue 15, "Workers").

- ix_outbox_claims: the messages a dispatcher holds, found by holder. Its heartbeat renews
  them every few seconds and its release gives them back on SIGTERM; the index is partial,
  so it holds only the messages being sent, however long the outbox grows.
- rate_slots: per channel, the instant (seconds since the epoch, by the database's clock)
  up to which sending time has been handed out. Every dispatcher of every worker reserves
  its next sends here, so a channel's configured rate holds for the deployment, not per
  process (storage/rate_slots.py).

Revision ID: 0021
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_claims",
        "outbox",
        ["claimed_by"],
        sqlite_where=sa.text("status = 'sending'"),
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_table(
        "rate_slots",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("next_at", sa.Float(precision=53), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_slots")
    op.drop_index("ix_outbox_claims", table_name="outbox")
