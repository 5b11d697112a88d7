"""The inbound message log: everything anyone sent, recorded before it is handled.

A body is sealed before it is written (storage/sealing.py), with a deployment's key: an
answer's redaction (a marker in its place) then leaves no plaintext behind in a dead row,
a free page, the WAL or a backup, only ciphertext. Reading the log opens it again.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.messages import Address, AddressKind, Attachment, Channel, Inbound
from storage.engine import Database, as_datetime
from storage.models import Recorded
from storage.people import RESOLVE, sender_record
from storage.sealing import Keys

BODY = "inbound:body"  # the associated data of a sealed body
_INSERT = """
    INSERT INTO inbound_messages
        (channel, provider_id, sender_kind, sender, body, attachments, received_at,
         contact, language)
    VALUES (:channel, :provider_id, :sender_kind, :sender, :body, :attachments,
            :received_at, :contact, :language)
    ON CONFLICT DO NOTHING
"""  # no conflict target: on PostgreSQL a trigger keeps (channel, provider_id) unique
# across the monthly partitions (storage/partitions.py), as no unique index can


class InboundRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.keys: Keys | None = None  # set by Repositories.use_secret

    async def record(self, msg: Inbound) -> Recorded:
        """Store the message durably; a provider id seen before is reported, not stored.
        Who sent it is read too (Recorded.sender): on PostgreSQL in the same statement,
        one round trip for both."""
        attachments = (
            json.dumps([{"url": a.url, "content_type": a.content_type} for a in msg.attachments])
            if msg.attachments
            else None
        )
        params = {
            "channel": msg.channel.value,
            "provider_id": msg.provider_id,
            "sender_kind": msg.sender.kind.value,
            "sender": msg.sender.value,
            # PostgreSQL text cannot hold NUL; it carries no meaning in a message anyway.
            "body": self._seal(msg.body.replace("\x00", "\ufffd")),
            "attachments": attachments,
            "received_at": msg.received_at,
            "contact": msg.contact,
            "language": msg.language,
            "kind": msg.sender.kind.value,
            "value": msg.sender.value,
        }
        if self.db.dialect == "postgresql":
            # The insert and the sender's rows in one statement: the SELECT's snapshot is
            # the statement's, so it reads the sender as it was, and the new id comes back
            # on every row (on one row of NULLs for an address nobody has yet).
            rows = await self.db.write(
                f"""
                WITH new AS ({_INSERT} RETURNING id)
                SELECT (SELECT id FROM new) AS new_id, s.*
                FROM (SELECT 1) AS one LEFT JOIN ({RESOLVE}) AS s ON true
                ORDER BY s.grant_order
                """,
                params,
            )
            new_id, sender = rows[0]["new_id"], sender_record(rows)
        else:  # SQLite has no INSERT in WITH: two statements, in one driver thread
            inserted = await self.db.write(_INSERT + " RETURNING id", params)
            new_id = inserted[0]["id"] if inserted else None
            rows = await self.db.fetch(RESOLVE + " ORDER BY grant_order", params)
            sender = sender_record(rows)
        if new_id is not None:
            return Recorded(new_id, True, "received", None, sender)
        row = await self.db.fetchrow(
            "SELECT id, status, reply FROM inbound_messages "
            "WHERE channel = :channel AND provider_id = :provider_id",
            params,
        )
        assert row is not None  # the conflict proves it exists
        return Recorded(row["id"], False, row["status"], row["reply"], sender)

    async def finish(
        self,
        message_id: int,
        *,
        status: str,
        handler: str | None,
        person_id: int | None,
        replies: list[str],
        error: str | None,
        now: datetime,
    ) -> None:
        await self.db.write(
            """
            UPDATE inbound_messages
            SET status = :status, handler = :handler, person_id = :person_id,
                reply = :reply, error = :error, handled_at = :now
            WHERE id = :id
            """,
            {
                "status": status,
                "handler": handler,
                "person_id": person_id,
                "reply": json.dumps(replies, ensure_ascii=False),
                "error": error,
                "now": now,
                "id": message_id,
            },
        )

    async def unfinished(self, limit: int = 1000, before: datetime | None = None) -> list[int]:
        """Messages recorded but never handled (the process stopped between the two); only
        those received before `before` if given (younger ones a live worker may hold)."""
        older = "" if before is None else " AND received_at < :before"
        rows = await self.db.fetch(
            f"SELECT id FROM inbound_messages WHERE status = 'received'{older} "
            "ORDER BY id LIMIT :limit",
            {"limit": limit, **({} if before is None else {"before": before})},
        )
        return [r["id"] for r in rows]

    async def load(self, message_id: int) -> Inbound:
        row = await self.db.fetchrow(
            "SELECT channel, provider_id, sender_kind, sender, body, attachments, received_at, "
            "contact, language FROM inbound_messages WHERE id = :id",
            {"id": message_id},
        )
        if row is None:
            raise KeyError(message_id)
        attachments = tuple(
            Attachment(a["url"], a["content_type"]) for a in json.loads(row["attachments"] or "[]")
        )
        received = as_datetime(row["received_at"])
        assert received is not None  # a NOT NULL column
        return Inbound(
            channel=Channel(row["channel"]),
            provider_id=row["provider_id"],
            sender=Address(AddressKind(row["sender_kind"]), row["sender"]),
            body=self.open_body(row["body"]),
            received_at=received,
            attachments=attachments,
            language=row["language"],
            contact=row["contact"],
        )

    async def failed(self, limit: int = 50) -> list[dict[str, object]]:
        """Messages whose handler failed, newest first (the sender was told it is kept)."""
        rows = await self.db.fetch(
            "SELECT id, channel, sender, body, handler, error, received_at FROM inbound_messages "
            "WHERE status = 'failed' ORDER BY id DESC LIMIT :limit",
            {"limit": limit},
        )
        return [{**dict(r), "body": self.open_body(r["body"])} for r in rows]

    def _seal(self, body: str) -> str:
        return self.keys.inbound.seal_text(body, BODY) if self.keys is not None else body

    def open_body(self, stored: str) -> str:
        """A body as it was sent (one sealed, or written before sealing, or a marker)."""
        return self.keys.inbound.open_text(stored, BODY) if self.keys is not None else stored

    async def reopen(self, message_id: int) -> bool:
        """Put a failed message back to be handled again (after the bug is fixed)."""
        rows = await self.db.write(
            "UPDATE inbound_messages SET status = 'received', error = NULL "
            "WHERE id = :id AND status = 'failed' RETURNING id",
            {"id": message_id},
        )
        return bool(rows)

    async def count(self) -> int:
        return await self.db.fetchval("SELECT COUNT(*) AS n FROM inbound_messages")
