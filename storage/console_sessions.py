"""Console sessions: one row per signed-in browser, looked up by a hash of its token.

A session lasts `ttl` from its last use (an organiser who keeps working stays signed in) up
to `max_age` from sign-in; ending it (sign-out, revoke) is one UPDATE, seen by the next
request whatever the cookie says.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.engine import Database, as_datetime

# A request refreshes seen_at at most this often: one write per page view would cost more
# than the page.
_TOUCH_EVERY = timedelta(minutes=5)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    person_id: int
    csrf: str  # the token every form of this session carries
    created_at: datetime
    expires_at: datetime


class ConsoleSessionRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, person_id: int, now: datetime, ttl: timedelta) -> tuple[str, Session]:
        """A new session: the token for the cookie (shown once, stored only hashed)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        rows = await self.db.write(
            """
            INSERT INTO console_sessions (token_hash, person_id, csrf, created_at, seen_at,
                                          expires_at)
            VALUES (:hash, :person, :csrf, :now, :now, :expires)
            RETURNING id
            """,
            {
                "hash": token_hash(token),
                "person": person_id,
                "csrf": csrf,
                "now": now,
                "expires": now + ttl,
            },
        )
        return token, Session(rows[0]["id"], person_id, csrf, now, now + ttl)

    async def find(
        self, token: str, now: datetime, ttl: timedelta, max_age: timedelta
    ) -> Session | None:
        """The live session of a token, its expiry pushed to `ttl` from now (within
        `max_age` of sign-in); None when unknown, ended or expired."""
        row = await self.db.fetchrow(
            """
            SELECT id, person_id, csrf, created_at, seen_at, expires_at FROM console_sessions
            WHERE token_hash = :hash AND ended_at IS NULL AND expires_at > :now
            """,
            {"hash": token_hash(token), "now": now},
        )
        if row is None:
            return None
        created = as_datetime(row["created_at"])
        seen = as_datetime(row["seen_at"])
        expires = as_datetime(row["expires_at"])
        assert created is not None and seen is not None and expires is not None
        if now - created >= max_age:
            return None
        if now - seen >= _TOUCH_EVERY:
            expires = min(now + ttl, created + max_age)
            await self.db.write(
                "UPDATE console_sessions SET seen_at = :now, expires_at = :expires "
                "WHERE id = :id AND ended_at IS NULL",
                {"now": now, "expires": expires, "id": row["id"]},
            )
        return Session(row["id"], row["person_id"], row["csrf"], created, expires)

    async def end(self, session_id: int, now: datetime) -> None:
        await self.db.write(
            "UPDATE console_sessions SET ended_at = :now WHERE id = :id AND ended_at IS NULL",
            {"now": now, "id": session_id},
        )

    async def end_all(self, person_id: int, now: datetime) -> int:
        """End every live session of a person (`grassroots console revoke`); how many."""
        rows = await self.db.write(
            "UPDATE console_sessions SET ended_at = :now "
            "WHERE person_id = :person AND ended_at IS NULL AND expires_at > :now RETURNING id",
            {"now": now, "person": person_id},
        )
        return len(rows)

    async def address_of(self, person_id: int) -> tuple[str, str] | None:
        """The address a console user is resolved through (their phone first): the same
        roles and permissions as when they text the bot."""
        row = await self.db.fetchrow(
            """
            SELECT kind, value FROM addresses WHERE person_id = :person
            ORDER BY CASE kind WHEN 'sms' THEN 0 ELSE 1 END, id LIMIT 1
            """,
            {"person": person_id},
        )
        return None if row is None else (row["kind"], row["value"])
