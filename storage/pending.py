"""Questions asked back and awaiting an answer ("which 王芳 do you mean? reply 1 or 2").

One per address: a new question replaces the old. A question expires, and it never blocks
a keyword: the router consults it only for text no keyword claimed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import Address
from storage.engine import Database, as_datetime


@dataclass(frozen=True, slots=True)
class Pending:
    kind: str  # names the handler that resumes it
    payload: dict[str, Any]
    expires_at: datetime


class PendingRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ask(
        self, address: Address, kind: str, payload: dict[str, Any], expires_at: datetime
    ) -> None:
        await self.db.write(
            """
            INSERT INTO pending_questions (address_kind, address, kind, payload, expires_at)
            VALUES (:ak, :a, :kind, :payload, :expires)
            ON CONFLICT (address_kind, address) DO UPDATE
            SET kind = excluded.kind, payload = excluded.payload, expires_at = excluded.expires_at
            """,
            {
                "ak": address.kind.value,
                "a": address.value,
                "kind": kind,
                "payload": json.dumps(payload, ensure_ascii=False),
                "expires": expires_at,
            },
        )

    async def take(self, address: Address, now: datetime) -> Pending | None:
        """The question awaiting this address's answer, removed (answered or not, it is
        asked once); None if there is none or it expired."""
        where = {"ak": address.kind.value, "a": address.value}
        # Read first: most messages have no question waiting, and a read costs no commit.
        if not await self.db.fetch(
            "SELECT 1 FROM pending_questions WHERE address_kind = :ak AND address = :a", where
        ):
            return None
        rows = await self.db.write(
            "DELETE FROM pending_questions WHERE address_kind = :ak AND address = :a "
            "RETURNING kind, payload, expires_at",
            where,
        )
        if not rows:
            return None
        expires = as_datetime(rows[0]["expires_at"])
        assert expires is not None
        if expires <= now:
            return None
        return Pending(rows[0]["kind"], json.loads(rows[0]["payload"]), expires)
