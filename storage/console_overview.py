"""What the console's overview reads besides members' activity (storage/activity.py): the
last closed poll's turnout per organisation, the open polls and the public notices in a
subtree, and the outbox's health. Each is counted in the database, a few rows back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from storage.engine import Database, as_date, as_datetime
from storage.orgs import SUBTREE
from storage.outbox import Waiting

# A poll is closed from its closing time on, whether or not a sweep has marked it yet
# (bot/polls.py poll_state).
_CLOSED = "(p.status = 'closed' OR (p.status = 'open' AND p.closes_at <= :now))"
_OPEN = "(p.status = 'open' AND p.closes_at > :now)"


@dataclass(frozen=True, slots=True)
class LastPoll:
    """An organisation's most recently closed poll: how many answered of how many asked."""

    poll_id: int
    answered: int
    asked: int  # counted when it opened; never fewer than answered

    @property
    def turnout(self) -> float:
        return self.answered / self.asked if self.asked else 0.0


@dataclass(frozen=True, slots=True)
class OpenPoll:
    """An open poll and its turnout so far: nothing of its answers (bot/polls.py)."""

    poll_id: int
    org_code: str
    org_name: str
    question: str
    question_en: str | None
    closes_at: datetime
    audience_size: int
    answered: int


@dataclass(frozen=True, slots=True)
class NoticeInProgress:
    """A public notice (公示) still running: its candidates and objections, counted."""

    notice_id: int
    org_code: str
    org_name: str
    round: int
    last_day: date
    candidates: int
    objections: int


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    waiting: dict[str, Waiting]  # per address kind: pending or being sent
    failed: int  # given up on since the window began

    @property
    def waiting_total(self) -> int:
        return sum(w.count for w in self.waiting.values())


async def last_polls(db: Database, root_id: int, now: datetime) -> dict[int, LastPoll]:
    """Each organisation in the subtree that has held a poll: its last closed one."""
    rows = await db.fetch(
        f"""{SUBTREE},
        ranked AS (
            SELECT p.id, p.org_id, p.audience_size,
                   ROW_NUMBER() OVER (PARTITION BY p.org_id
                                      ORDER BY p.closes_at DESC, p.id DESC) AS k
            FROM polls p WHERE p.org_id IN (SELECT id FROM sub) AND {_CLOSED})
        SELECT r.org_id, r.id, r.audience_size,
               (SELECT COUNT(*) FROM poll_participants pp WHERE pp.poll_id = r.id) AS answered
        FROM ranked r WHERE r.k = 1""",
        {"root": root_id, "now": now},
    )
    found = {}
    for r in rows:
        answered = int(r["answered"])
        found[int(r["org_id"])] = LastPoll(
            int(r["id"]), answered, max(int(r["audience_size"] or 0), answered)
        )
    return found


async def open_polls(db: Database, root_id: int, now: datetime, most: int = 20) -> list[OpenPoll]:
    """The subtree's open polls, closing soonest first, with how many have answered."""
    rows = await db.fetch(
        f"""{SUBTREE}
        SELECT p.id, o.code, o.name, p.question, p.question_en, p.closes_at, p.audience_size,
               (SELECT COUNT(*) FROM poll_participants pp WHERE pp.poll_id = p.id) AS answered
        FROM polls p JOIN organisations o ON o.id = p.org_id
        WHERE p.org_id IN (SELECT id FROM sub) AND {_OPEN}
        ORDER BY p.closes_at, p.id LIMIT :most""",
        {"root": root_id, "now": now, "most": most},
    )
    polls = []
    for r in rows:
        closes = as_datetime(r["closes_at"])
        assert closes is not None
        polls.append(
            OpenPoll(
                int(r["id"]),
                r["code"],
                r["name"],
                r["question"],
                r["question_en"],
                closes,
                int(r["audience_size"] or 0),
                int(r["answered"]),
            )
        )
    return polls


async def notices_in_progress(
    db: Database, root_id: int, now: datetime, most: int = 20
) -> list[NoticeInProgress]:
    """Public notices in the subtree whose period has not ended, ending soonest first."""
    rows = await db.fetch(
        f"""{SUBTREE}
        SELECT n.id, o.code, o.name, n.round, n.last_day,
               (SELECT COUNT(*) FROM notice_candidates c
                WHERE c.org_id = n.org_id AND c.round = n.round) AS candidates,
               (SELECT COUNT(*) FROM objections j WHERE j.notice_id = n.id) AS objections
        FROM public_notices n JOIN organisations o ON o.id = n.org_id
        WHERE n.org_id IN (SELECT id FROM sub) AND n.ends_at > :now
        ORDER BY n.ends_at, n.id LIMIT :most""",
        {"root": root_id, "now": now, "most": most},
    )
    notices = []
    for r in rows:
        last_day = as_date(r["last_day"])
        assert last_day is not None
        notices.append(
            NoticeInProgress(
                int(r["id"]),
                r["code"],
                r["name"],
                int(r["round"]),
                last_day,
                int(r["candidates"]),
                int(r["objections"]),
            )
        )
    return notices


async def outbox_health(db: Database, root_id: int | None, since: datetime) -> OutboxHealth:
    """Messages waiting per address kind, and those that failed since `since`: of the
    broadcasts made in a subtree (`root_id`), or of the whole deployment (None: replies and
    reminders to anyone included)."""
    params: dict[str, Any] = {"since": since}
    if root_id is None:
        scope, source = "", "outbox m"
    else:
        params["root"] = root_id
        scope = SUBTREE
        source = (
            "outbox m JOIN broadcasts b ON b.id = m.broadcast_id "
            "AND b.org_id IN (SELECT id FROM sub)"
        )
    rows = await db.fetch(
        f"""{scope}
        SELECT m.address_kind, COUNT(*) AS n, MIN(m.not_before) AS first FROM {source}
        WHERE m.status IN ('pending', 'sending') GROUP BY m.address_kind""",
        params,
    )
    failed = await db.fetchval(
        f"""{scope}
        SELECT COUNT(*) FROM {source} WHERE m.status = 'failed' AND m.updated_at >= :since""",
        params,
    )
    return OutboxHealth(
        {r["address_kind"]: Waiting(int(r["n"]), as_datetime(r["first"])) for r in rows},
        int(failed or 0),
    )
