"""The audit log: who did what in the console, when, on which organisation (issue 14).

Every console action records itself once it has been done, in the same request:

    from storage import audit

    await audit.record(
        app.repos.db,
        person_id=user.person_id,  # who (None: the operator at the server's shell)
        action="poll.create",  # what: a short dotted name, "<area>.<verb>"
        org_id=org.id,  # on which organisation (None: not about one)
        detail="P12",  # a short note (cut to 200 characters): an id, a count
        at=app.clock.now(),
    )

`detail` is read by admins on /console/audit: it says which object, never a phone number,
a villager's name, a ballot or what someone wrote (docs/privacy.md). Sign-in, sign-out,
`grassroots console revoke` and a code burned by wrong guesses are recorded by
bot/web/console/signin.py. Actions whose name has a text under `web.console.audit.actions`
are shown translated; others are shown as their name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.engine import Executor, as_datetime

DETAIL_MAX = 200


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    person_id: int | None
    person_name: str | None
    action: str
    org_code: str | None
    org_name: str | None
    detail: str


async def record(
    db: Executor,
    *,
    person_id: int | None,
    action: str,
    org_id: int | None = None,
    detail: str = "",
    at: datetime,
) -> None:
    """Write one entry. `db` may be a transaction, so an action and its entry commit
    together."""
    await db.execute(
        "INSERT INTO audit_log (created_at, person_id, action, org_id, detail) "
        "VALUES (:at, :person, :action, :org, :detail)",
        {
            "at": at,
            "person": person_id,
            "action": action[:64],
            "org": org_id,
            "detail": detail[:DETAIL_MAX],
        },
    )


async def newest(db: Executor, *, before: int | None = None, limit: int = 50) -> list[Entry]:
    """Entries newest first, `limit` of them from just before entry `before` (a page)."""
    page = "" if before is None else "WHERE l.id < :before"
    rows = await db.fetch(
        f"""
        SELECT l.id, l.created_at, l.person_id, p.name AS person_name, l.action, o.code, o.name,
               l.detail
        FROM audit_log l
        LEFT JOIN people p ON p.id = l.person_id
        LEFT JOIN organisations o ON o.id = l.org_id
        {page}
        ORDER BY l.id DESC
        LIMIT :limit
        """,
        {"limit": limit} if before is None else {"before": before, "limit": limit},
    )
    entries = []
    for row in rows:
        at = as_datetime(row["created_at"])
        assert at is not None
        entries.append(
            Entry(
                row["id"],
                at,
                row["person_id"],
                row["person_name"],
                row["action"],
                row["code"],
                row["name"],
                row["detail"],
            )
        )
    return entries
