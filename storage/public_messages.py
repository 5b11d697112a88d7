"""Villagers' messages to their branch (群众留言): what they send that no keyword claimed.

Unlike a ballot or a comment, a message keeps who sent it, so that the branch can answer;
the secretary's list shows the name and a masked number (handlers/public_messages.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.engine import Database, as_datetime, in_list


@dataclass(frozen=True, slots=True)
class PublicMessage:
    id: int
    org_id: int
    body: str
    attachment_url: str | None
    created_at: datetime
    status: str  # new, read
    name: str | None  # the sender's name on the roster, if any
    phone: str | None  # the sender's SMS number, if any (shown masked)


def _stamp(value: object) -> datetime:
    stamp = as_datetime(value)
    assert stamp is not None  # created_at is NOT NULL
    return stamp


class PublicMessageRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        org_id: int,
        person_id: int | None,
        inbound_id: int | None,
        body: str,
        attachment_url: str | None,
        now: datetime,
    ) -> None:
        """Keep a message (once per inbound message: a retried webhook keeps it once)."""
        await self.db.write(
            """
            INSERT INTO public_messages (org_id, person_id, inbound_id, body, attachment_url,
                                         created_at, status)
            VALUES (:org, :person, :inbound, :body, :attachment, :now, 'new')
            ON CONFLICT (inbound_id) DO NOTHING
            """,
            {
                "org": org_id,
                "person": person_id,
                "inbound": inbound_id,
                "body": body,
                "attachment": attachment_url,
                "now": now,
            },
        )

    async def recent_from(self, person_id: int, now: datetime) -> int:
        """Messages this person left in the hour before `now`."""
        count = await self.db.fetchval(
            "SELECT COUNT(*) FROM public_messages "
            "WHERE person_id = :person AND created_at > :since",
            {"person": person_id, "since": now - timedelta(hours=1)},
        )
        return int(count or 0)

    async def latest(
        self, org_ids: Sequence[int], *, limit: int
    ) -> tuple[list[PublicMessage], int]:
        """The newest messages to these organisations, and how many there are in all."""
        if not org_ids:
            return [], 0
        orgs, params = in_list("o", org_ids)
        total = await self.db.fetchval(
            f"SELECT COUNT(*) FROM public_messages WHERE org_id IN ({orgs})", params
        )
        rows = await self.db.fetch(
            f"""
            SELECT m.id, m.org_id, m.body, m.attachment_url, m.created_at, m.status, p.name,
                   (SELECT a.value FROM addresses a
                    WHERE a.person_id = m.person_id AND a.kind = 'sms'
                    ORDER BY a.id LIMIT 1) AS phone
            FROM public_messages m LEFT JOIN people p ON p.id = m.person_id
            WHERE m.org_id IN ({orgs})
            ORDER BY m.created_at DESC, m.id DESC
            LIMIT :limit
            """,
            {**params, "limit": limit},
        )
        found = [
            PublicMessage(
                id=r["id"],
                org_id=r["org_id"],
                body=r["body"],
                attachment_url=r["attachment_url"],
                created_at=_stamp(r["created_at"]),
                status=r["status"],
                name=r["name"],
                phone=r["phone"],
            )
            for r in rows
        ]
        return found, int(total or 0)

    async def count_new(self, org_ids: Sequence[int]) -> int:
        """Messages to these organisations not yet listed for their secretary."""
        if not org_ids:
            return 0
        orgs, params = in_list("o", org_ids)
        count = await self.db.fetchval(
            f"SELECT COUNT(*) FROM public_messages WHERE org_id IN ({orgs}) AND status = 'new'",
            params,
        )
        return int(count or 0)

    async def mark_read(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        marks, params = in_list("m", ids)
        await self.db.write(
            f"UPDATE public_messages SET status = 'read' WHERE id IN ({marks})", params
        )

    async def org_of(self, message_id: int) -> int | None:
        """The organisation a message was left for, if there is such a message."""
        found = await self.db.fetchval(
            "SELECT org_id FROM public_messages WHERE id = :id", {"id": message_id}
        )
        return int(found) if found is not None else None
