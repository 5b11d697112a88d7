"""The outbox: durable queue of broadcasts, each enqueued once under an idempotency key.

The dispatcher that drains it (rate limits, retries, quiet hours) comes with the scheduler.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.messages import Outbound
from storage.engine import Database

# Provider delivery statuses in the order they happen (Twilio's names; Telegram has none).
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
_RANK_SQL = (
    "(CASE COALESCE(channel_status, '') "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " ELSE -1 END)"
)


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(
        self, key: str, message: Outbound, now: datetime, not_before: datetime | None = None
    ) -> bool:
        """Queue a message. True if new; False if that key was already queued."""
        choices = (
            json.dumps(
                [{"key": c.key, "label": c.label} for c in message.choices], ensure_ascii=False
            )
            if message.choices
            else None
        )
        inserted = await self.db.write(
            """
            INSERT INTO outbox (idempotency_key, address_kind, address, body, choices,
                                not_before, created_at, updated_at)
            VALUES (:key, :kind, :address, :body, :choices, :not_before, :now, :now)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
            """,
            {
                "key": key,
                "kind": message.to.kind.value,
                "address": message.to.value,
                "body": message.body,
                "choices": choices,
                "not_before": not_before or now,
                "now": now,
            },
        )
        return bool(inserted)

    async def pending_count(self) -> int:
        return await self.db.fetchval("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")

    async def get(self, outbox_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchrow("SELECT * FROM outbox WHERE id = :id", {"id": outbox_id})
        return dict(row) if row else None

    async def mark_sent(
        self,
        outbox_id: int,
        *,
        provider_id: str,
        channel_status: str,
        segments: int | None,
        encoding: str | None,
        now: datetime,
    ) -> None:
        await self.db.write(
            """
            UPDATE outbox SET status = 'sent', provider_id = :provider_id,
                channel_status = :channel_status, segments = :segments, encoding = :encoding,
                attempts = attempts + 1, last_error = NULL, updated_at = :now
            WHERE id = :id
            """,
            {
                "id": outbox_id,
                "provider_id": provider_id,
                "channel_status": channel_status,
                "segments": segments,
                "encoding": encoding,
                "now": now,
            },
        )

    async def mark_failed(
        self,
        outbox_id: int,
        *,
        code: str | None,
        error: str,
        retry_at: datetime | None,
        now: datetime,
    ) -> None:
        """A failed attempt: back to pending until retry_at, or failed for good if None."""
        await self.db.write(
            """
            UPDATE outbox SET status = :status, error_code = :code, last_error = :error,
                attempts = attempts + 1, not_before = COALESCE(:retry_at, not_before),
                updated_at = :now
            WHERE id = :id
            """,
            {
                "id": outbox_id,
                "status": "pending" if retry_at else "failed",
                "code": code,
                "error": error,
                "retry_at": retry_at,
                "now": now,
            },
        )

    async def update_delivery(
        self, provider_id: str, channel_status: str, error_code: str | None, now: datetime
    ) -> bool:
        """Apply a delivery status callback. Callbacks arrive late, twice or out of order:
        a status only replaces one that comes before it. True if the message moved on."""
        rank = STATUS_RANK.get(channel_status)
        if rank is None:
            return False
        final = {
            "delivered": "delivered",
            "read": "delivered",
            "undelivered": "failed",
            "failed": "failed",
        }.get(channel_status)
        changed = await self.db.write(
            f"""
            UPDATE outbox SET channel_status = :channel_status,
                error_code = COALESCE(:error_code, error_code),
                status = COALESCE(:final, status), updated_at = :now
            WHERE provider_id = :provider_id AND {_RANK_SQL} < :rank
            RETURNING id
            """,
            {
                "provider_id": provider_id,
                "channel_status": channel_status,
                "error_code": error_code,
                "final": final,
                "rank": rank,
                "now": now,
            },
        )
        return bool(changed)
