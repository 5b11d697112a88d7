"""Console sign-in codes and the audit log (issue 14).

console_codes: one row per code asked for. The number is an HMAC under the deployment's
secret and the code an HMAC of number and code, so the table names no one and a copy of it
signs nobody in; a stranger's number gets a row like anyone's (person_id NULL), so asking
for a code does the same work whether or not the number is on the roster.

audit_log: who did what, when, on which organisation, with a short detail; every console
action writes a row (storage/audit.py).

Revision ID: 0018
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("phone_key", sa.String(64), nullable=False),  # HMAC-SHA256, hex
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id")),  # NULL: nobody's
        sa.Column("code_hash", sa.String(64), nullable=False),  # HMAC-SHA256, hex
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(16)),  # used, burned, superseded
    )
    op.create_index("ix_console_codes_phone", "console_codes", ["phone_key"])
    op.create_index("ix_console_codes_expires", "console_codes", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id")),  # NULL: the operator
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisations.id")),
        sa.Column("detail", sa.String(200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("console_codes")
