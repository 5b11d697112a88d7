"""What the bot listed to each address, remembered a while (issues 12.8 and 12.9).

推荐 2 names the second person the bot listed to *that sender*, never a roster position
anyone could walk through; 更多 continues the list that sender asked for last. One row per
address and kind; a new list replaces the old; rows expire.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.messages import Address
from storage.engine import Database, as_datetime


class SenderListRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def remember(
        self, address: Address, kind: str, payload: dict[str, Any], expires_at: datetime
    ) -> None:
        await self.db.write(
            """
            INSERT INTO sender_lists (address_kind, address, kind, payload, expires_at)
            VALUES (:ak, :a, :kind, :payload, :expires)
            ON CONFLICT (address_kind, address, kind) DO UPDATE
            SET payload = excluded.payload, expires_at = excluded.expires_at
            """,
            {
                "ak": address.kind.value,
                "a": address.value,
                "kind": kind,
                "payload": json.dumps(payload, ensure_ascii=False),
                "expires": expires_at,
            },
        )

    async def recall(self, address: Address, kind: str, now: datetime) -> dict[str, Any] | None:
        """The list last remembered for this address and kind, unless it has expired."""
        row = await self.db.fetchrow(
            "SELECT payload, expires_at FROM sender_lists "
            "WHERE address_kind = :ak AND address = :a AND kind = :kind",
            {"ak": address.kind.value, "a": address.value, "kind": kind},
        )
        if row is None:
            return None
        expires = as_datetime(row["expires_at"])
        if expires is None or expires <= now:
            return None
        payload: dict[str, Any] = json.loads(row["payload"])
        return payload

    async def forget(self, address: Address, kind: str) -> None:
        await self.db.write(
            "DELETE FROM sender_lists WHERE address_kind = :ak AND address = :a AND kind = :kind",
            {"ak": address.kind.value, "a": address.value, "kind": kind},
        )
