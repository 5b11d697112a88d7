"""Comments from the public on a poll or a branch, stored without their author.

A comment first waits sealed in pending_comments (written with the message's redaction and
the poll participation, so it must not say anything there), and is published to `comments`
with the others waiting, in a shuffled batch, once enough wait (storage.polls.
publish_comments, run by the poll sweep). Those who read comments see pending ones too,
opened here. A published row holds the organisation, the poll if any, the text, its status
and the day: no person, no address, no time of day, and a random id. How many comments an address
left in the last hour is read from the message log, which knows that a message was a
comment but no longer what it said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from bot.messages import Address
from storage.engine import Database, Row, as_date
from storage.polls import (
    NewComment,
    forget_body,
    hold_comment,
    pending_comments,
    publish_comments,
    seal_comment,
)
from storage.sealing import Keys

# Names the message log files comments under (the router's handler column).
COMMENT_HANDLERS = ("comment", "poll.comment")


class Author(Protocol):
    """Who sent a message, as the comment limit needs it (handlers' Sender fits)."""

    @property
    def address(self) -> Address: ...

    @property
    def person_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Comment:
    code: str
    org_id: int
    poll_id: int | None
    body: str
    status: str  # published, held, hidden
    day: date


class CommentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.keys: Keys | None = None  # set by Repositories.use_secret

    def _keys(self) -> Keys:
        assert self.keys is not None, "comments are sealed: Repositories.use_secret first"
        return self.keys

    async def add(
        self, comment: NewComment, *, message_id: int | None, marker: str, poll_id: int | None
    ) -> str:
        """Keep a comment sealed and take its text out of the message log, together."""
        async with self.db.transaction() as tx:
            code = await hold_comment(tx, self._keys(), comment, poll_id, message_id)
            if message_id is not None:
                await forget_body(tx, message_id, marker)
        return code

    async def recent_from(self, sender: Author, now: datetime) -> int:
        """Comments this person (on any of their addresses) or, for a stranger, this
        address left in the hour before `now`."""
        params: dict[str, object] = {
            "since": now - timedelta(hours=1),
            "h0": COMMENT_HANDLERS[0],
            "h1": COMMENT_HANDLERS[1],
        }
        if sender.person_id is not None:
            who = "person_id = :person"
            params["person"] = sender.person_id
        else:
            who = "sender_kind = :k AND sender = :a"
            params.update(k=sender.address.kind.value, a=sender.address.value)
        count = await self.db.fetchval(
            f"SELECT COUNT(*) FROM inbound_messages WHERE {who} "
            "AND received_at > :since AND handler IN (:h0, :h1)",
            params,
        )
        return count or 0

    async def publish(self, minimum: int | None = None) -> int:
        """Publish the waiting comments if enough wait (see storage.polls.COMMENT_BATCH)."""
        if minimum is None:
            return await publish_comments(self.db, self._keys())
        return await publish_comments(self.db, self._keys(), minimum)

    async def _pending(self, code: str | None = None) -> list[Comment]:
        if self.keys is None:
            return []
        return [
            Comment(c["code"], c["org"], c["poll"], c["body"], c["status"], c["day"])
            for c in await pending_comments(self.db, self.keys, code)
        ]

    async def for_orgs(
        self, org_ids: Sequence[int], *, limit: int, include_hidden: bool = False
    ) -> list[Comment]:
        """Newest days first; within a day held ones first, then by code (no order)."""
        if not org_ids:
            return []
        params = {f"o{i}": org for i, org in enumerate(org_ids)}
        orgs = ", ".join(f":{name}" for name in params)
        hidden = "" if include_hidden else "AND status <> 'hidden'"
        rows = await self.db.fetch(
            f"""
            SELECT code, org_id, poll_id, body, status, day FROM comments
            WHERE org_id IN ({orgs}) {hidden}
            ORDER BY day DESC, CASE status WHEN 'held' THEN 0 ELSE 1 END, code
            LIMIT :limit
            """,
            {**params, "limit": limit},
        )
        found = [_comment(r) for r in rows]
        found += [
            c
            for c in await self._pending()
            if c.org_id in org_ids and (include_hidden or c.status != "hidden")
        ]
        found.sort(key=lambda c: (-c.day.toordinal(), c.status != "held", c.code))
        return found[:limit]

    async def for_poll(self, poll_id: int, *, limit: int) -> list[Comment]:
        rows = await self.db.fetch(
            "SELECT code, org_id, poll_id, body, status, day FROM comments "
            "WHERE poll_id = :p AND status = 'published' ORDER BY day DESC, code LIMIT :limit",
            {"p": poll_id, "limit": limit},
        )
        found = [_comment(r) for r in rows]
        pending = await self._pending()
        found += [c for c in pending if c.poll_id == poll_id and c.status == "published"]
        found.sort(key=lambda c: (-c.day.toordinal(), c.code))
        return found[:limit]

    async def get(self, code: str) -> Comment | None:
        code = code.strip().upper()
        row = await self.db.fetchrow(
            "SELECT code, org_id, poll_id, body, status, day FROM comments WHERE code = :c",
            {"c": code},
        )
        if row:
            return _comment(row)
        return next(iter(await self._pending(code)), None)

    async def set_status(self, code: str, status: str) -> None:
        await self.db.write(
            "UPDATE comments SET status = :s WHERE code = :c", {"c": code, "s": status}
        )
        if self.keys is None:
            return
        keys = self.keys
        async with self.db.transaction() as tx:
            for c in await pending_comments(tx, keys, code):
                await tx.execute(
                    "UPDATE pending_comments SET sealed = :s WHERE id = :id",
                    {"id": c["id"], "s": seal_comment(keys, c["id"], {**c, "status": status})},
                )


def _comment(row: Row) -> Comment:
    day = as_date(row["day"])
    assert day is not None
    return Comment(
        code=row["code"],
        org_id=row["org_id"],
        poll_id=row["poll_id"],
        body=row["body"],
        status=row["status"],
        day=day,
    )
