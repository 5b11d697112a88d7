"""Messages a platform's limit kept from their recipient: recorded, and sent by SMS instead.

One transaction per message: the SMS copy is queued (same broadcast, body, choices, urgency
and expiry; idempotent on the original's key), the broadcast's total grows by it, the limit
is recorded with its reason, and the original is marked failed with that reason, so
`broadcast status` and the console say why the chat was not reached and how it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.engine import Database


@dataclass(frozen=True, slots=True)
class Rerouted:
    fallback_id: int | None  # the SMS copy in the outbox; None: the person has no phone


@dataclass(frozen=True, slots=True)
class LimitCount:
    kind: str  # the address kind that was not reached (wechat)
    reason: str  # window, count, quota, platform
    total: int
    by_sms: int  # of them, reached by SMS instead


async def reroute(
    db: Database, row: dict[str, Any], *, reason: str, code: str | None, detail: str, now: datetime
) -> Rerouted:
    """Queue `row` (an outbox row a limit kept back) to its person's usable phone, if any,
    and record why; the row itself ends failed."""
    async with db.transaction() as tx:
        copied = await tx.fetch(
            """
            INSERT INTO outbox (idempotency_key, address_kind, address, body, choices,
                                not_before, created_at, updated_at, urgent, broadcast_id,
                                expires_at)
            SELECT :key, s.kind, s.value, o.body, o.choices, :now, :now, :now, o.urgent,
                   o.broadcast_id, o.expires_at
            FROM outbox o
            JOIN addresses c ON c.kind = o.address_kind AND c.value = o.address
            JOIN addresses s ON s.person_id = c.person_id AND s.kind = 'sms'
            WHERE o.id = :id AND s.opted_out_at IS NULL AND s.invalid_at IS NULL
            ORDER BY s.id
            LIMIT 1
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            {"key": f"{row['idempotency_key']}:sms", "now": now, "id": row["id"]},
        )
        fallback = int(copied[0]["id"]) if copied else None
        if fallback is None:  # queued already by an earlier attempt?
            fallback = await tx.fetchval(
                "SELECT id FROM outbox WHERE idempotency_key = :key",
                {"key": f"{row['idempotency_key']}:sms"},
            )
        else:  # the broadcast has one message more
            await tx.execute(
                "UPDATE broadcasts SET total = total + 1 "
                "WHERE id = (SELECT broadcast_id FROM outbox WHERE id = :id)",
                {"id": row["id"]},
            )
        await tx.execute(
            """
            INSERT INTO platform_limits (outbox_id, broadcast_id, address_kind, reason, code,
                                         fallback_id, created_at)
            SELECT id, broadcast_id, address_kind, :reason, :code, :fallback, :now
            FROM outbox WHERE id = :id
            ON CONFLICT (outbox_id) DO NOTHING
            """,
            {"id": row["id"], "reason": reason, "code": code, "fallback": fallback, "now": now},
        )
        how = f"sent by SMS instead (#{fallback})" if fallback else "no usable phone on the roster"
        await tx.execute(
            """
            UPDATE outbox SET status = 'failed', error_code = :code, last_error = :error,
                attempts = attempts + 1, claimed_by = NULL, claimed_until = NULL,
                updated_at = :now
            WHERE id = :id
            """,
            {
                "id": row["id"],
                "code": (code or reason)[:16],  # error_code is 16 wide
                "error": f"platform limit ({reason}): {detail}; {how}"[:500],
                "now": now,
            },
        )
    return Rerouted(int(fallback) if fallback is not None else None)


async def for_broadcast(db: Database, broadcast_id: int) -> list[LimitCount]:
    """Why a broadcast's recipients were not reached on their chat, by kind and reason."""
    rows = await db.fetch(
        """
        SELECT address_kind, reason, COUNT(*) AS n,
               SUM(CASE WHEN fallback_id IS NULL THEN 0 ELSE 1 END) AS by_sms
        FROM platform_limits WHERE broadcast_id = :b
        GROUP BY address_kind, reason ORDER BY address_kind, reason
        """,
        {"b": broadcast_id},
    )
    return [
        LimitCount(r["address_kind"], r["reason"], int(r["n"]), int(r["by_sms"] or 0)) for r in rows
    ]
