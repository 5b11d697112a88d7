"""Featured deeds (典型): a member's reported deed shown on the public pages.

One row per featuring, never deleted: who featured the deed, when, for which organisation
(the deed's own, kept here so the public pages read one index), and, once it is taken
down, who withdrew it and whether that was the member (who then said no for good).

Revision ID: 0015
Revises: 0016 (main's console sessions landed first; the lead re-chains at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)
_CURRENT = sa.text("withdrawn_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "featured_deeds",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("deed_id", Id, sa.ForeignKey("deeds.id"), nullable=False),
        sa.Column("org_id", Id, sa.ForeignKey("organisations.id"), nullable=False),
        sa.Column("featured_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("featured_at", Stamp, nullable=False),
        sa.Column("withdrawn_by", Id, sa.ForeignKey("people.id"), nullable=True),
        sa.Column("withdrawn_at", Stamp, nullable=True),
        # The member took it down: the deed is not featured again (they said no).
        sa.Column("by_member", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # At most one current featuring per deed: featuring twice at once inserts once.
    op.create_index(
        "ux_featured_deeds_current",
        "featured_deeds",
        ["deed_id"],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )
    # The public pages: an organisation's current ones, newest first.
    op.create_index(
        "ix_featured_deeds_org_time",
        "featured_deeds",
        ["org_id", "featured_at"],
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )
    # A deed's history (did its member withdraw it before?).
    op.create_index("ix_featured_deeds_deed", "featured_deeds", ["deed_id", "featured_at"])


def downgrade() -> None:
    op.drop_index("ix_featured_deeds_deed", "featured_deeds")
    op.drop_index("ix_featured_deeds_org_time", "featured_deeds")
    op.drop_index("ux_featured_deeds_current", "featured_deeds")
    op.drop_table("featured_deeds")
