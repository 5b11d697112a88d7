"""Broadcasts remember what caused them (a message, a milestone), once each.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A notice handled again after a crash finds its broadcast instead of making a second.
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("source", sa.String(200), nullable=True))
        batch.create_unique_constraint("uq_broadcasts_source", ["source"])


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_constraint("uq_broadcasts_source", type_="unique")
        batch.drop_column("source")
