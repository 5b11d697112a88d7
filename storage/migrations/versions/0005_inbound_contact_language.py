"""The inbound log keeps a shared contact and the sender's app language, so a message whose
handling a restart interrupted is handled again exactly as it would have been.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("contact", sa.String(32), nullable=True))
    op.add_column("inbound_messages", sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("language")
        batch.drop_column("contact")
