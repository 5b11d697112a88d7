"""The outbox: durable queue of broadcasts, each enqueued once under an idempotency key.

The dispatcher that drains it (rate limits, retries, quiet hours) comes with the scheduler.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.messages import Outbound
from storage.engine import Database


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
