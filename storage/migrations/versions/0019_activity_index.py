"""Deeds indexed by organisation, day and person: the campaign's activity (who reported in
each organisation, week by week; storage/activity.py) is counted from the index alone,
without reading the deeds. It replaces ix_deeds_org_day, which it begins with.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deeds_org_day_person", "deeds", ["org_id", "local_day", "person_id"])
    op.drop_index("ix_deeds_org_day", table_name="deeds")


def downgrade() -> None:
    op.create_index("ix_deeds_org_day", "deeds", ["org_id", "local_day"])
    op.drop_index("ix_deeds_org_day_person", table_name="deeds")
