"""Leaders' commentary on branches (点评) and briefings to the public (通报).

Both are stored before they are broadcast, once per source message; the broadcast id and
the number of recipients are written when the broadcast is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.engine import Database, as_datetime


@dataclass(frozen=True, slots=True)
class Commentary:
    id: int
    org_id: int
    author: str | None
    author_org: str | None
    body: str
    created_at: datetime
    recipients: int | None


class CommentaryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def comment(
        self,
        *,
        org_id: int,
        author_id: int | None,
        author_org_id: int | None,
        body: str,
        now: datetime,
        source: str,
    ) -> int:
        """Store a leader's commentary on an organisation (once per `source`)."""
        return await self._insert(
            "commentary",
            {
                "org_id": org_id,
                "author_id": author_id,
                "author_org_id": author_org_id,
                "body": body,
                "created_at": now,
                "source": source,
            },
        )

    async def brief(
        self,
        *,
        org_id: int,
        author_id: int | None,
        body: str,
        subtree: bool,
        now: datetime,
        source: str,
    ) -> int:
        """Store a briefing to an organisation's public (once per `source`)."""
        return await self._insert(
            "briefings",
            {
                "org_id": org_id,
                "author_id": author_id,
                "body": body,
                "subtree": subtree,
                "created_at": now,
                "source": source,
            },
        )

    async def sent(self, table: str, row_id: int, broadcast_id: int, recipients: int) -> None:
        """Note the broadcast that carries a commentary or briefing."""
        assert table in ("commentary", "briefings")
        await self.db.write(
            f"UPDATE {table} SET broadcast_id = :b, recipients = :n WHERE id = :id",
            {"b": broadcast_id, "n": recipients, "id": row_id},
        )

    async def on(self, org_id: int, limit: int = 20) -> list[Commentary]:
        """The commentary an organisation received, newest first."""
        rows = await self.db.fetch(
            """
            SELECT c.id, c.org_id, p.name AS author, o.name AS author_org, c.body,
                   c.created_at, c.recipients
            FROM commentary c
            LEFT JOIN people p ON p.id = c.author_id
            LEFT JOIN organisations o ON o.id = c.author_org_id
            WHERE c.org_id = :org ORDER BY c.created_at DESC, c.id DESC LIMIT :limit
            """,
            {"org": org_id, "limit": limit},
        )
        found = []
        for r in rows:
            created = as_datetime(r["created_at"])
            assert created is not None
            found.append(
                Commentary(
                    r["id"],
                    r["org_id"],
                    r["author"],
                    r["author_org"],
                    r["body"],
                    created,
                    r["recipients"],
                )
            )
        return found

    async def _insert(self, table: str, values: dict[str, object]) -> int:
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        await self.db.write(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (source) DO NOTHING",
            values,
        )
        found = await self.db.fetchval(
            f"SELECT id FROM {table} WHERE source = :source", {"source": values["source"]}
        )
        assert found is not None
        return int(found)
