"""What the console reads and does about one organisation's broadcasts: the list, who a
broadcast failed to reach and why, and cancelling what has not gone yet.

Cancelling stops the rows nobody has claimed (`pending`: never tried, held by quiet hours,
or waiting for a retry): they become `cancelled` in one statement. Rows a dispatcher holds
at that moment (`sending`) are already with the provider or about to be, and finish as
sent or failed; a claim that expires unsent is given back as pending and would be sent, so
the page tells how many were in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.engine import Database, as_datetime

CANCEL_REASON = "broadcast cancelled"


@dataclass(frozen=True, slots=True)
class Listed:
    id: int
    kind: str
    body: str
    created_at: datetime
    total: int
    waiting: int
    failed: int


@dataclass(frozen=True, slots=True)
class Failure:
    name: str | None
    address_kind: str
    address: str  # the raw address: the page masks it
    error_code: str | None
    error: str | None


async def org_of(db: Database, broadcast_id: int) -> int | None:
    """The organisation a broadcast was sent to (None: unknown broadcast or everyone)."""
    value = await db.fetchval("SELECT org_id FROM broadcasts WHERE id = :b", {"b": broadcast_id})
    return None if value is None else int(value)


async def for_org(db: Database, org_id: int, limit: int = 30) -> list[Listed]:
    """The organisation's newest broadcasts with their waiting and failed counts, counted
    in SQL."""
    rows = await db.fetch(
        """
        SELECT b.id, b.kind, b.body, b.created_at, b.total,
               (SELECT COUNT(*) FROM outbox o WHERE o.broadcast_id = b.id
                  AND o.status IN ('pending', 'sending')) AS waiting,
               (SELECT COUNT(*) FROM outbox o WHERE o.broadcast_id = b.id
                  AND o.status = 'failed') AS failed
        FROM broadcasts b WHERE b.org_id = :org
        ORDER BY b.id DESC LIMIT :limit
        """,
        {"org": org_id, "limit": limit},
    )
    listed = []
    for r in rows:
        at = as_datetime(r["created_at"])
        assert at is not None
        listed.append(
            Listed(
                r["id"], r["kind"], r["body"], at, r["total"], int(r["waiting"]), int(r["failed"])
            )
        )
    return listed


async def failures(db: Database, broadcast_id: int, limit: int = 200) -> list[Failure]:
    """Recipients the broadcast failed to reach for good, with the provider's reason."""
    rows = await db.fetch(
        """
        SELECT p.name, o.address_kind, o.address, o.error_code, o.last_error
        FROM outbox o
        LEFT JOIN addresses a ON a.kind = o.address_kind AND a.value = o.address
        LEFT JOIN people p ON p.id = a.person_id
        WHERE o.broadcast_id = :b AND o.status = 'failed'
        ORDER BY o.id LIMIT :limit
        """,
        {"b": broadcast_id, "limit": limit},
    )
    return [
        Failure(r["name"], r["address_kind"], r["address"], r["error_code"], r["last_error"])
        for r in rows
    ]


async def cancel_waiting(db: Database, broadcast_id: int, now: datetime) -> tuple[int, int]:
    """Cancel the broadcast's unclaimed rows. Returns (cancelled, in flight)."""
    cancelled = await db.write(
        "UPDATE outbox SET status = 'cancelled', last_error = :reason, updated_at = :now "
        "WHERE broadcast_id = :b AND status = 'pending' RETURNING id",
        {"b": broadcast_id, "reason": CANCEL_REASON, "now": now},
    )
    in_flight = await db.fetchval(
        "SELECT COUNT(*) AS n FROM outbox WHERE broadcast_id = :b AND status = 'sending'",
        {"b": broadcast_id},
    )
    return len(cancelled), int(in_flight or 0)
