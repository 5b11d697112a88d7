"""Public commitments (公开承诺), leaders' commentary (点评) and briefings (通报).

A commitment is a member's (person_id) or the branch's own (person_id NULL). It is published
to the branch's public in batches: `batch` marks the commitments claimed into one
publication, `broadcast_id` that its broadcast was queued (a batch without one is redone).
Deeds may say which commitment they advance.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commitments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),  # shown as C<id>
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("person_id", Id, sa.ForeignKey("people.id"), nullable=True),  # NULL: branch
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=True),  # a day in the branch's time zone
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),  # open, done
        sa.Column("created_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("source", sa.String(64), nullable=True, unique=True),  # message:<id>
        # When it goes to the public: NULL holds it until the secretary publishes.
        sa.Column("publish_at", Stamp, nullable=True),
        sa.Column("published_at", Stamp, nullable=True),
        sa.Column("batch", sa.String(64), nullable=True),
        sa.Column("broadcast_id", Id, sa.ForeignKey("broadcasts.id"), nullable=True),
        sa.Column("done_at", Stamp, nullable=True),
        sa.Column("done_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("reminded_at", Stamp, nullable=True),  # a few days before it is due
        sa.Column("prompted_at", Stamp, nullable=True),  # on the day: report completion
        sa.CheckConstraint("status IN ('open', 'done')", name="ck_commitments_status"),
    )
    op.create_index("ix_commitments_org", "commitments", ["org_id", "status"])
    op.create_index("ix_commitments_person", "commitments", ["person_id", "status"])
    op.create_index("ix_commitments_due", "commitments", ["status", "due_on"])
    op.create_index("ix_commitments_publish", "commitments", ["published_at", "publish_at"])
    op.create_index("ix_commitments_batch", "commitments", ["broadcast_id", "batch"])
    # How a branch publishes its commitments; no row means at once.
    op.create_table(
        "commitment_schedules",
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),  # now, weekly, manual
        sa.Column("weekday", sa.SmallInteger, nullable=True),  # 0 = Monday
        sa.Column("minute", sa.Integer, nullable=True),  # minutes after local midnight
        sa.Column("updated_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
    )
    # SQLite adds a column with a reference in place; batch mode would copy every deed.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE deeds ADD COLUMN commitment_id INTEGER REFERENCES commitments (id)")
    else:
        op.add_column(
            "deeds",
            sa.Column("commitment_id", Id, sa.ForeignKey("commitments.id"), nullable=True),
        )
    op.create_index("ix_deeds_commitment", "deeds", ["commitment_id"])

    op.create_table(
        "commentary",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("author_id", Id, sa.ForeignKey("people.id"), nullable=True),
        # The organisation the leader speaks for (signs the commentary).
        sa.Column("author_org_id", Id, sa.ForeignKey("organisations.id"), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("source", sa.String(64), nullable=True, unique=True),
        sa.Column("broadcast_id", Id, sa.ForeignKey("broadcasts.id"), nullable=True),
        sa.Column("recipients", sa.Integer, nullable=True),
    )
    op.create_index("ix_commentary_org", "commentary", ["org_id", "created_at"])
    op.create_table(
        "briefings",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("author_id", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("subtree", sa.Boolean, nullable=False),  # the organisations below too
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("source", sa.String(64), nullable=True, unique=True),
        sa.Column("broadcast_id", Id, sa.ForeignKey("broadcasts.id"), nullable=True),
        sa.Column("recipients", sa.Integer, nullable=True),
    )
    op.create_index("ix_briefings_org", "briefings", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_table("briefings")
    op.drop_table("commentary")
    op.drop_index("ix_deeds_commitment", "deeds")
    with op.batch_alter_table("deeds") as batch:
        batch.drop_column("commitment_id")
    op.drop_table("commitment_schedules")
    op.drop_table("commitments")
