"""Indexes for the comment limit (a sender's messages in the last hour) and for tallies.

The limit read the whole message log for every comment; the tally scanned the ballots.
Neither index holds anything its table does not already hold.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_person_time", "inbound_messages", ["person_id", "received_at"])
    op.create_index(
        "ix_inbound_sender_time", "inbound_messages", ["sender_kind", "sender", "received_at"]
    )
    op.create_index("ix_ballots_tally", "ballots", ["poll_id", "org_id", "choice"])


def downgrade() -> None:
    op.drop_index("ix_ballots_tally", "ballots")
    op.drop_index("ix_inbound_sender_time", "inbound_messages")
    op.drop_index("ix_inbound_person_time", "inbound_messages")
