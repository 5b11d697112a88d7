"""Sealed ballots and pending comments: nothing written beside a person says what they chose.

While a poll is open, each person's current answer is sealed (storage/sealing.py) in a row
keyed by the HMAC of poll and person; at close the answers are written out in a shuffled
order, in a transaction of their own, with random keys, and the sealed rows are deleted. A
comment waits sealed, and is published with others in a shuffled batch, away from the
message and the participation that carried it. See docs/privacy.md.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sealed_ballots",
        sa.Column("poll_id", Id, sa.ForeignKey("polls.id"), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),  # HMAC(key, poll, person)
        sa.Column("sealed", sa.LargeBinary, nullable=False),  # choice and branch, sealed
        sqlite_with_rowid=False,
    )
    op.create_table(
        "pending_comments",
        sa.Column("id", Id, primary_key=True, autoincrement=False),  # random: no order
        # Everything sealed, the branch and poll too: a published comment's branch, poll
        # and day must not single out its pending row (and so the message before it).
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        # HMAC of the code under the secret: a code is found, and kept unique, unopened.
        sa.Column("code_tag", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    op.drop_table("pending_comments")
    op.drop_table("sealed_ballots")
