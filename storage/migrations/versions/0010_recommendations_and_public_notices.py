"""Recommendation of models (推荐), public notice (公示) and objections (异议).

A round of recommendations runs from one public notice of the branch to the next: the
notice of round N takes round N's shortlist, and recommendations then count for round N+1.
An objection's text and its objector are kept in two tables: the secretary's commands read
only `objections`; `objectors` is read only on the path gated by Action.SEE_OBJECTORS.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("nominee_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("recommender_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        # A person recommends the same member once per round.
        sa.UniqueConstraint(
            "org_id", "round", "nominee_id", "recommender_id", name="uq_recommendations_once"
        ),
    )
    op.create_index("ix_recommendations_round", "recommendations", ["org_id", "round"])
    op.create_table(
        "public_notices",
        sa.Column("id", Id, primary_key=True, autoincrement=True),  # the code is G<id>
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("published_at", Stamp, nullable=False),
        sa.Column("last_day", sa.Date, nullable=False),  # in the branch's zone, shown to all
        sa.Column("ends_at", Stamp, nullable=False),  # midnight after the last day
        sa.Column("created_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("source", sa.String(64), nullable=True, unique=True),  # the command message
        sa.Column("broadcast_id", Id, sa.ForeignKey("broadcasts.id"), nullable=True),
        sa.Column("reminded_at", Stamp, nullable=True),  # the secretary was told it ended
        sa.Column("announced_at", Stamp, nullable=True),  # the outcome went out
        sa.UniqueConstraint("org_id", "round", name="uq_public_notices_round"),
    )
    op.create_index("ix_public_notices_ends", "public_notices", ["ends_at"])
    op.create_table(
        "notice_candidates",  # a round's shortlist, then its notice's outcomes
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("round", sa.Integer, primary_key=True),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), primary_key=True),
        sa.Column("place", sa.Integer, nullable=False),  # order on the shortlist
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("decided_at", Stamp, nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('commended', 'withdrawn', 'deferred')",
            name="ck_notice_candidates_outcome",
        ),
    )
    op.create_table(
        "objections",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("notice_id", Id, sa.ForeignKey("public_notices.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),  # the day only, as for comments
    )
    op.create_index("ix_objections_notice", "objections", ["notice_id"])
    op.create_table(
        "objectors",  # who objected: for the leaders above the branch, never its secretary
        sa.Column("objection_id", Id, sa.ForeignKey("objections.id"), primary_key=True),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=False),
        sa.Column("address_kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        # The message that carried it: handled again after a crash, it is stored once.
        sa.Column("source", sa.String(64), nullable=True, unique=True),
    )


def downgrade() -> None:
    op.drop_table("objectors")
    op.drop_index("ix_objections_notice", "objections")
    op.drop_table("objections")
    op.drop_table("notice_candidates")
    op.drop_index("ix_public_notices_ends", "public_notices")
    op.drop_table("public_notices")
    op.drop_index("ix_recommendations_round", "recommendations")
    op.drop_table("recommendations")
