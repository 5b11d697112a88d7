"""What the browser sandbox reads: the roster to pick a person from, and one phone number's
thread (what it sent, from the inbound log; what it was sent, from the outbox).

The sandbox runs on demo data and shows names and phone numbers; nothing here may serve a
public page. Replies delivered through the outbox (the sandbox's own, or those of a message
handled after a restart) carry the key `reply:<inbound id>:<n>` and are shown under the
message they answer; a reply given only directly (TwiML, a console) is read from the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import Address, AddressKind, Choice, Outbound
from storage.engine import as_datetime
from storage.repositories import Repositories

ROSTER_LIMIT = 600  # a sandbox over a real roster lists this many and asks for a number
THREAD_LIMIT = 60  # messages each way shown in a thread
# The outbox key of a reply delivered through the outbox (Router.recover, the sandbox).
REPLY_KEY = "reply:{message}:{index}"
# Handlers whose message the log keeps only as a marker ("[P1]", "[comment]"): an answer
# or comment must not stay paired with its sender.
REDACTING = frozenset({"poll.answer", "poll.comment", "comment"})


@dataclass(frozen=True, slots=True)
class Listed:
    """One role of one person with a phone number, for the picker."""

    org_id: int
    role: str
    name: str | None
    phone: str


@dataclass(frozen=True, slots=True)
class Holding:
    role: str
    org_name: str
    org_code: str


@dataclass(frozen=True, slots=True)
class Person:
    name: str | None
    holdings: tuple[Holding, ...]
    opted_out: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a thread, as the phone shows it."""

    key: str  # stable across readings: "i<id>" sent, "r<id>.<n>" logged reply, "o<id>"
    at: datetime
    mine: bool  # sent by the person (else by the bot)
    body: str
    choices: tuple[Choice, ...] = ()
    waiting: bool = False  # still in the outbox (quiet hours, no sender)
    kept_as_marker: bool = False  # an answer the log keeps only as "[P1]"
    segments: int | None = None  # as the outbox recorded it, when it did


async def roster(repos: Repositories, limit: int = ROSTER_LIMIT) -> list[Listed]:
    rows = await repos.db.fetch(
        """
        SELECT r.org_id, r.role, p.name, a.value AS phone
        FROM roles r
        JOIN people p ON p.id = r.person_id
        JOIN addresses a ON a.person_id = p.id AND a.kind = 'sms'
        ORDER BY r.org_id, p.id, a.id
        LIMIT :limit
        """,
        {"limit": limit},
    )
    return [Listed(r["org_id"], r["role"], r["name"], r["phone"]) for r in rows]


async def person(repos: Repositories, phone: str) -> Person | None:
    """Who holds this SMS number, or None for a number nobody holds."""
    rows = await repos.db.fetch(
        """
        SELECT p.name, a.opted_out_at, r.role, o.name AS org_name, o.code
        FROM addresses a
        JOIN people p ON p.id = a.person_id
        LEFT JOIN roles r ON r.person_id = p.id
        LEFT JOIN organisations o ON o.id = r.org_id
        WHERE a.kind = 'sms' AND a.value = :phone
        ORDER BY o.code, r.role
        """,
        {"phone": phone},
    )
    if not rows:
        return None
    holdings = tuple(
        Holding(r["role"], r["org_name"], r["code"]) for r in rows if r["role"] is not None
    )
    return Person(rows[0]["name"], holdings, rows[0]["opted_out_at"] is not None)


async def outbox_id(repos: Repositories, key: str) -> int | None:
    return await repos.db.fetchval(
        "SELECT id FROM outbox WHERE idempotency_key = :key", {"key": key}
    )


async def thread(repos: Repositories, phone: str, limit: int = THREAD_LIMIT) -> list[Entry]:
    """The latest messages to and from an SMS number, oldest first."""
    sent = await repos.db.fetch(
        """
        SELECT id, body, reply, received_at, handler FROM inbound_messages
        WHERE sender_kind = 'sms' AND sender = :phone
        ORDER BY id DESC LIMIT :limit
        """,
        {"phone": phone, "limit": limit},
    )
    received = await repos.db.fetch(
        """
        SELECT id, idempotency_key, body, choices, status, segments, created_at, updated_at
        FROM outbox
        WHERE address_kind = 'sms' AND address = :phone
          AND status NOT IN ('failed', 'cancelled')
        ORDER BY id DESC LIMIT :limit
        """,
        {"phone": phone, "limit": limit},
    )
    times: dict[int, datetime] = {}
    rank: dict[str, tuple[datetime, int, int, int]] = {}
    entries: list[Entry] = []
    for row in sent:
        at = as_datetime(row["received_at"])
        assert at is not None
        times[row["id"]] = at
        body = repos.inbound.open_body(row["body"])
        marker = row["handler"] in REDACTING and body.startswith("[") and body.endswith("]")
        entries.append(Entry(f"i{row['id']}", at, True, body, kept_as_marker=marker))
        rank[entries[-1].key] = (at, 0, row["id"], 0)
    through_outbox: set[int] = set()
    for row in received:
        key = str(row["idempotency_key"])
        if key.startswith("reply:"):
            message, _, index = key[len("reply:") :].partition(":")
            if not (message.isdigit() and int(message) in times and index.isdigit()):
                continue  # a reply to a message older than the thread shows
            through_outbox.add(int(message))
            entry = _received(row)
            entries.append(entry)
            rank[entry.key] = (times[int(message)], 0, int(message), 1 + int(index))
        else:
            entry = _received(row)
            entries.append(entry)
            rank[entry.key] = (entry.at, 1, row["id"], 0)
    for row in sent:
        if row["id"] in through_outbox or not row["reply"]:
            continue
        for n, text in enumerate(json.loads(row["reply"])):
            entry = Entry(f"r{row['id']}.{n}", times[row["id"]], False, text)
            entries.append(entry)
            rank[entry.key] = (entry.at, 0, row["id"], 1 + n)
    # Where either side was cut at the limit, older messages of the other side would
    # stand alone with a gap after them: the thread starts where both are complete.
    cutoffs = []
    if len(sent) == limit:
        cutoffs.append(min(times.values()))
    if len(received) == limit:
        cutoffs.append(min(rank[e.key][0] for e in entries if e.key.startswith("o")))
    start = max(cutoffs, default=None)
    # By time (a broadcast between two messages), each reply right under its message.
    return sorted(
        (e for e in entries if start is None or rank[e.key][0] >= start), key=lambda e: rank[e.key]
    )


def _received(row: Any) -> Entry:
    choices = tuple(Choice(c["key"], c["label"]) for c in json.loads(row["choices"] or "[]"))
    waiting = row["status"] in ("pending", "sending")
    stamp = as_datetime(row["created_at"] if waiting else row["updated_at"])
    assert stamp is not None
    return Entry(
        f"o{row['id']}",
        stamp,
        False,
        row["body"],
        choices,
        waiting=waiting,
        segments=row["segments"],
    )


def as_outbound(entry: Entry, phone: str) -> Outbound:
    """The entry as the SMS it is (for its segment count: the numbered choices included)."""
    return Outbound(Address(AddressKind.SMS, phone), entry.body, entry.choices)
