"""Public evaluation (群众评议): polls, anonymous ballots, participants, comments; and
questions asked back awaiting an answer.

Ballots are keyed by an HMAC of poll and person and kept apart from participants, so no
row links a person to an answer. Neither ballots nor comments carry an insertion order a
reader could match against the message log: ballots are keyed by the hash (WITHOUT ROWID
on SQLite), comments by a random id and the day only.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_questions",
        sa.Column("address_kind", sa.String(16), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
    )
    op.create_table(
        "polls",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("question_en", sa.Text, nullable=True),  # templates speak both languages
        sa.Column("options", sa.Text, nullable=False),  # JSON list of labels
        sa.Column("options_en", sa.Text, nullable=True),
        sa.Column("audience", sa.String(16), nullable=False),  # public, members, all
        sa.Column("opens_at", Stamp, nullable=False),
        sa.Column("closes_at", Stamp, nullable=False),
        # draft (awaiting the secretary's confirmation), scheduled, open, closed, cancelled
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("allow_change", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("series", sa.String(64), nullable=True),  # a template's questions, in turn
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("subject", sa.String(64), nullable=True),  # what it evaluates, e.g. commitment:3
        sa.Column("audience_size", sa.Integer, nullable=True),  # counted when it opens
        sa.Column("created_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("source", sa.String(64), nullable=True, unique=True),
        sa.Column("results_sent_at", Stamp, nullable=True),
    )
    op.create_index("ix_polls_status", "polls", ["status", "opens_at"])
    op.create_index("ix_polls_org", "polls", ["org_id", "status"])
    op.create_table(
        "ballots",
        sa.Column("poll_id", Id, sa.ForeignKey("polls.id"), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),  # HMAC(key, poll, person)
        sa.Column("choice", sa.Integer, nullable=False),  # 0-based option index
        sa.Column("org_id", Id, nullable=True),  # the voter's branch, for subtree polls only
        sqlite_with_rowid=False,
    )
    op.create_table(
        "poll_participants",  # who answered (for turnout and the results), never what
        sa.Column("poll_id", Id, sa.ForeignKey("polls.id"), primary_key=True),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "comments",
        sa.Column("id", Id, primary_key=True, autoincrement=False),  # random: no order
        sa.Column("code", sa.String(8), nullable=False, unique=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("poll_id", Id, sa.ForeignKey("polls.id"), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # published, held, hidden
        sa.Column("day", sa.Date, nullable=False),  # the day only: a time would name the author
    )
    op.create_index("ix_comments_org", "comments", ["org_id", "day"])


def downgrade() -> None:
    for table in ("comments", "poll_participants", "ballots", "polls", "pending_questions"):
        op.drop_table(table)
