"""Deeds indexed by organisation, day and person: the campaign's activity (who reported in
each organisation, week by week; storage/activity.py) is counted from the index alone,
without reading the deeds. It replaces ix_deeds_org_day, which it begins with.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
# The brief said 0014; 0016 (console sessions) is already on main after 0014, and two heads
# would stop the upgrade. The lead re-chains at merge.
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deeds_org_day_person", "deeds", ["org_id", "local_day", "person_id"])
    op.drop_index("ix_deeds_org_day", table_name="deeds")


def downgrade() -> None:
    op.create_index("ix_deeds_org_day", "deeds", ["org_id", "local_day"])
    op.drop_index("ix_deeds_org_day_person", table_name="deeds")
