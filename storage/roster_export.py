"""A subtree's roster as the import format holds it (bot/roster_files.py writes the files)."""

from __future__ import annotations

from storage.engine import Executor, Row
from storage.orgs import SUBTREE


async def organisations(db: Executor, root: int) -> list[Row]:
    """The subtree's organisations by code, each with its parent's code ('' for none)."""
    return await db.fetch(
        SUBTREE
        + """
        SELECT o.code, o.name, o.kind, COALESCE(p.code, '') AS parent,
               COALESCE(o.theme, '') AS theme
        FROM organisations o JOIN sub ON sub.id = o.id
        LEFT JOIN organisations p ON p.id = o.parent_id
        ORDER BY o.code
        """,
        {"root": root},
    )


async def people(db: Executor, root: int) -> list[Row]:
    """Every named person holding a role in the subtree, with their SMS number: a person
    without one cannot be written in the import format."""
    return await db.fetch(
        SUBTREE
        + """
        SELECT o.code, p.name, a.value, r.role
        FROM roles r
        JOIN sub ON sub.id = r.org_id
        JOIN organisations o ON o.id = r.org_id
        JOIN people p ON p.id = r.person_id
        JOIN addresses a ON a.person_id = p.id AND a.kind = 'sms'
        WHERE p.name IS NOT NULL AND p.name <> ''
        ORDER BY o.code, r.role, p.name, a.value
        """,
        {"root": root},
    )
