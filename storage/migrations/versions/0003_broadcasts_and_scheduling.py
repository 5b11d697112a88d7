"""Broadcasts, outbox claims, quiet-hour urgency, scheduler runs and the scheduler lock.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),  # broadcast, milestone, reminder...
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("broadcast_id", Id, nullable=True))
        batch.add_column(sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()))
        # A dispatcher holds a message while sending it; a claim past its time is taken
        # back (the process died) and counted in reclaims, the possible duplicates.
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_until", Stamp, nullable=True))
        batch.add_column(sa.Column("reclaims", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_outbox_broadcast", "outbox", ["broadcast_id", "status"])

    # Periodic jobs and milestones that ran, by period: never twice, caught up once.
    op.create_table(
        "job_runs",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("ran_at", Stamp, nullable=False),
    )
    # Leases: one scheduler active among several processes.
    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
    )
    # Members may turn the daily nudge off.
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("nudges", sa.Boolean, nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("nudges")
    op.drop_table("locks")
    op.drop_table("job_runs")
    op.drop_index("ix_outbox_broadcast", "outbox")
    with op.batch_alter_table("outbox") as batch:
        for column in ("reclaims", "claimed_until", "claimed_by", "urgent", "broadcast_id"):
            batch.drop_column(column)
    op.drop_table("broadcasts")
