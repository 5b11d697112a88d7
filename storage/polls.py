"""Polls (群众评议): creation, anonymous ballots, turnout and results.

While a poll is open, each person's current answer is sealed (storage/sealing.py) in
sealed_ballots under `voter`, an HMAC of the poll and the person made by the caller with the
deployment's secret key, so a change replaces it; the person is recorded in
poll_participants (turnout, results to those who answered). Nothing written with a person
says what they chose: at close, `publish` writes the answers to `ballots` in a shuffled order
with random keys, in a transaction of its own, and deletes the sealed rows (docs/privacy.md).
A comment waits sealed in pending_comments and is published with others in a batch.
Counting an answer also replaces the message's body in the log, in the same transaction.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from storage.audience import reach as audience_reach
from storage.engine import Database, Row, as_date, as_datetime, in_list
from storage.models import Role
from storage.sealing import Keys

_SHUFFLE = random.SystemRandom()
# A branch's comments of one poll (or none) and one day are published once at least this
# many people wrote them: each is then one of at least this many writers' (docs/privacy.md).
COMMENT_BATCH = 5

# Who a poll asks, within the subtree of its organisation.
AUDIENCE_ROLES: dict[str, tuple[Role, ...]] = {
    "public": (Role.PUBLIC,),
    "members": (Role.MEMBER, Role.SECRETARY),
    "all": (Role.PUBLIC, Role.MEMBER, Role.SECRETARY),
}
# A process notices a poll another process opened within this many seconds.
OPEN_CACHE_SECONDS = 2.0
OPEN_CACHE_ENTRIES = 10_000  # sets of organisations whose open polls are kept
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed on keypads


class Cast(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    LOCKED = "locked"  # answered before, and this poll does not allow a change
    CLOSED = "closed"  # the poll is no longer open (closed since it was read): not counted


@dataclass(frozen=True, slots=True)
class Poll:
    id: int
    org_id: int
    question: str
    question_en: str | None
    options: tuple[str, ...]
    options_en: tuple[str, ...] | None
    audience: str
    opens_at: datetime
    closes_at: datetime
    status: str
    allow_change: bool
    series: str | None
    position: int
    subject: str | None
    audience_size: int | None
    created_by: int | None
    results_sent_at: datetime | None

    @property
    def code(self) -> str:
        return f"P{self.id}"

    def question_in(self, language: str) -> str:
        return self.question_en if language == "en" and self.question_en else self.question

    def options_in(self, language: str) -> tuple[str, ...]:
        return self.options_en if language == "en" and self.options_en else self.options


@dataclass(frozen=True, slots=True)
class NewComment:
    org_id: int
    body: str
    held: bool
    day: date


@dataclass(frozen=True, slots=True)
class Tally:
    """Answers per option, overall and per branch (for a poll over a subtree)."""

    total: int
    counts: tuple[int, ...]
    by_org: dict[int, tuple[int, ...]]
    participants: int
    joined: int = 0  # people who joined the poll's audience after it opened


def _poll(row: Row) -> Poll:
    opens, closes = as_datetime(row["opens_at"]), as_datetime(row["closes_at"])
    assert opens is not None and closes is not None
    return Poll(
        id=row["id"],
        org_id=row["org_id"],
        question=row["question"],
        question_en=row["question_en"],
        options=tuple(json.loads(row["options"])),
        options_en=tuple(json.loads(row["options_en"])) if row["options_en"] else None,
        audience=row["audience"],
        opens_at=opens,
        closes_at=closes,
        status=row["status"],
        allow_change=bool(row["allow_change"]),
        series=row["series"],
        position=row["position"],
        subject=row["subject"],
        audience_size=row["audience_size"],
        created_by=row["created_by"],
        results_sent_at=as_datetime(row["results_sent_at"]),
    )


class PollRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._open_known: tuple[float, bool] | None = None
        # The open polls reaching a set of organisations, briefly (OPEN_CACHE_SECONDS): every
        # answer of a burst asks it; `cast` checks the poll is still open when it counts.
        self._open_reach: dict[tuple[int, ...], tuple[float, list[tuple[Poll, int]]]] = {}
        self.keys: Keys | None = None  # set by Repositories.use_secret

    def _keys(self) -> Keys:
        assert self.keys is not None, "ballots are sealed: Repositories.use_secret first"
        return self.keys

    async def create(
        self,
        *,
        org_id: int,
        question: str,
        options: Sequence[str],
        audience: str,
        opens_at: datetime,
        closes_at: datetime,
        status: str,
        now: datetime,
        question_en: str | None = None,
        options_en: Sequence[str] | None = None,
        allow_change: bool = True,
        series: str | None = None,
        position: int = 0,
        subject: str | None = None,
        created_by: int | None = None,
        source: str | None = None,
    ) -> Poll:
        """A new poll, or the one already made for `source` (a message handled again)."""
        rows = await self.db.write(
            """
            INSERT INTO polls (org_id, question, question_en, options, options_en, audience,
                               opens_at, closes_at, status, allow_change, series, position,
                               subject, created_by, created_at, source)
            VALUES (:org, :q, :q_en, :options, :options_en, :audience, :opens, :closes,
                    :status, :allow_change, :series, :position, :subject, :by, :now, :source)
            ON CONFLICT (source) DO NOTHING
            RETURNING *
            """,
            {
                "org": org_id,
                "q": question,
                "q_en": question_en,
                "options": json.dumps(list(options), ensure_ascii=False),
                "options_en": json.dumps(list(options_en)) if options_en else None,
                "audience": audience,
                "opens": opens_at,
                "closes": closes_at,
                "status": status,
                "allow_change": allow_change,
                "series": series,
                "position": position,
                "subject": subject,
                "by": created_by,
                "now": now,
                "source": source,
            },
        )
        if not rows:
            rows = await self.db.fetch("SELECT * FROM polls WHERE source = :s", {"s": source})
        self._forget_open()
        return _poll(rows[0])

    async def get(self, poll_id: int) -> Poll | None:
        row = await self.db.fetchrow("SELECT * FROM polls WHERE id = :id", {"id": poll_id})
        return _poll(row) if row else None

    async def by_code(self, code: str) -> Poll | None:
        code = code.strip().upper()
        if not (code.startswith("P") and code[1:].isdigit()):
            return None
        return await self.get(int(code[1:]))

    async def series(self, series: str) -> list[Poll]:
        rows = await self.db.fetch(
            "SELECT * FROM polls WHERE series = :s ORDER BY position", {"s": series}
        )
        return [_poll(r) for r in rows]

    async def move(self, poll_id: int, from_status: str, to_status: str, **changes: Any) -> bool:
        """Change a poll's status if it still has `from_status` (one process wins)."""
        sets = "".join(f", {column} = :{column}" for column in changes)
        rows = await self.db.write(
            f"UPDATE polls SET status = :to{sets} WHERE id = :id AND status = :from RETURNING id",
            {"id": poll_id, "from": from_status, "to": to_status, **changes},
        )
        self._forget_open()
        return bool(rows)

    async def mark_results_sent(self, poll_id: int, now: datetime) -> None:
        await self.db.write(
            "UPDATE polls SET results_sent_at = :now WHERE id = :id", {"id": poll_id, "now": now}
        )

    async def due(self, now: datetime) -> tuple[list[Poll], list[Poll]]:
        """Polls whose opening has come, and polls to close or whose results are unsent."""
        opening = await self.db.fetch(
            "SELECT * FROM polls WHERE status = 'scheduled' AND opens_at <= :now ORDER BY id",
            {"now": now},
        )
        closing = await self.db.fetch(
            "SELECT * FROM polls WHERE (status = 'open' AND closes_at <= :now) "
            "OR (status = 'closed' AND results_sent_at IS NULL) ORDER BY id",
            {"now": now},
        )
        return [_poll(r) for r in opening], [_poll(r) for r in closing]

    def _forget_open(self) -> None:
        """A poll was created or changed status here: read open polls afresh."""
        self._open_known = None
        self._open_reach.clear()

    async def any_open(self) -> bool:
        """Whether any poll is open anywhere: most messages arrive when none is, and this
        spares them a query (cached briefly; see OPEN_CACHE_SECONDS)."""
        known = self._open_known
        if known is not None and time.monotonic() - known[0] < OPEN_CACHE_SECONDS:
            return known[1]
        found = bool(await self.db.fetch("SELECT 1 FROM polls WHERE status = 'open' LIMIT 1"))
        self._open_known = (time.monotonic(), found)
        return found

    async def reachable(
        self, org_ids: Sequence[int], statuses: Sequence[str], closed_since: datetime | None = None
    ) -> list[tuple[Poll, int]]:
        """Polls with one of `statuses` on the given organisations or any above them, each
        with the organisation (of `org_ids`) through which it reaches the person."""
        if not org_ids:
            return []
        cacheable = tuple(statuses) == ("open",) and closed_since is None
        key = tuple(org_ids)
        if cacheable and (known := self._open_reach.get(key)):
            if time.monotonic() - known[0] < OPEN_CACHE_SECONDS:
                return known[1]
        orgs, org_params = in_list("o", org_ids)
        states, state_params = in_list("s", statuses)
        since = "AND p.closes_at >= :since" if closed_since is not None else ""
        rows = await self.db.fetch(
            f"""
            WITH RECURSIVE up(origin, id, parent_id, depth) AS (
                SELECT id, id, parent_id, 0 FROM organisations WHERE id IN ({orgs})
                UNION ALL
                SELECT up.origin, o.id, o.parent_id, up.depth + 1
                FROM organisations o JOIN up ON o.id = up.parent_id
                WHERE up.depth < 64
            )
            SELECT p.*, up.origin AS via FROM polls p JOIN up ON p.org_id = up.id
            WHERE p.status IN ({states}) {since}
            ORDER BY p.id
            """,
            {**org_params, **state_params, "since": closed_since},
        )
        found = [(_poll(r), r["via"]) for r in rows]
        if cacheable:
            if len(self._open_reach) >= OPEN_CACHE_ENTRIES:
                self._open_reach.clear()
            self._open_reach[key] = (time.monotonic(), found)
        return found

    async def has_ballot(self, poll_id: int, voter: str) -> bool:
        return bool(
            await self.db.fetch(
                "SELECT 1 FROM sealed_ballots WHERE poll_id = :p AND voter = :v "
                "UNION ALL SELECT 1 FROM ballots WHERE poll_id = :p AND voter = :v",
                {"p": poll_id, "v": voter},
            )
        )

    async def cast(
        self,
        poll: Poll,
        *,
        voter: str,
        person_id: int,
        choice: int,
        voter_org: int | None,
        message_id: int | None,
        marker: str,
        comment: NewComment | None = None,
    ) -> Cast:
        """Count one answer, sealed, and in the same transaction take its text out of the
        message log and keep any comment sealed until it is published with others. A repeat
        replaces the answer if the poll allows it."""
        sealer = self._keys().ballots
        sealed = sealer.seal(
            # When it was made (sealed): when two people merge, the later answer counts.
            json.dumps({"c": choice, "o": voter_org, "t": time.time()}).encode(),
            f"ballot:{poll.id}:{voter}",
        )
        async with self.db.transaction() as tx:
            # One statement: whether the poll is still open (the caller's list of open
            # polls may be a few seconds old), and any answer before, sealed or (written in
            # the clear before sealing, migration 0013) to be taken over.
            found = await tx.fetchrow(
                "SELECT (SELECT status FROM polls WHERE id = :p) AS status,"
                " (SELECT 1 FROM sealed_ballots WHERE poll_id = :p AND voter = :v) AS sealed,"
                " (SELECT 1 FROM ballots WHERE poll_id = :p AND voter = :v) AS legacy",
                {"p": poll.id, "v": voter},
            )
            assert found is not None  # a SELECT without FROM has its one row
            if found["status"] != "open":
                return Cast.CLOSED
            before, legacy = found["sealed"], found["legacy"] is not None
            if (before is not None or legacy) and not poll.allow_change:
                return Cast.LOCKED
            if legacy:
                await tx.execute(
                    "DELETE FROM ballots WHERE poll_id = :p AND voter = :v",
                    {"p": poll.id, "v": voter},
                )
                before = 1
            if comment is not None:
                await hold_comment(tx, self._keys(), comment, poll.id, message_id)
            # The ballot, the participant and the log's marker: one round trip on PostgreSQL.
            if before is None:
                writes = [
                    "INSERT INTO sealed_ballots (poll_id, voter, sealed) VALUES (:p, :v, :s)",
                    "INSERT INTO poll_participants (poll_id, person_id) VALUES (:p, :person) "
                    "ON CONFLICT DO NOTHING",
                ]
            else:
                writes = [
                    "INSERT INTO sealed_ballots (poll_id, voter, sealed) VALUES (:p, :v, :s) "
                    "ON CONFLICT (poll_id, voter) DO UPDATE SET sealed = excluded.sealed"
                ]
            if message_id is not None:
                writes.append(FORGET_BODY)
            await tx.execute_together(
                writes,
                {
                    "p": poll.id,
                    "v": voter,
                    "s": sealed,
                    "person": person_id,
                    "id": message_id,
                    "marker": marker,
                },
            )
        return Cast.NEW if before is None else Cast.CHANGED

    async def rekey(self, poll_id: int, old: str, new: str) -> None:
        """Two people merged into one (a Telegram chat linked to a phone): their answers,
        under `old` and `new`, become one under `new`, the later of the two (a sealed
        ballot holds when it was made). Participation is merged by the people repository."""
        sealer = self._keys().ballots
        async with self.db.transaction() as tx:
            moved = await tx.fetchval(
                "DELETE FROM sealed_ballots WHERE poll_id = :p AND voter = :v RETURNING sealed",
                {"p": poll_id, "v": old},
            )
            if moved is None:
                return
            theirs = json.loads(sealer.open(bytes(moved), f"ballot:{poll_id}:{old}"))
            kept = await tx.fetchval(
                "SELECT sealed FROM sealed_ballots WHERE poll_id = :p AND voter = :v",
                {"p": poll_id, "v": new},
            )
            if kept is not None:
                ours = json.loads(sealer.open(bytes(kept), f"ballot:{poll_id}:{new}"))
                if ours.get("t", 0) >= theirs.get("t", 0):
                    return
            await tx.execute(
                "INSERT INTO sealed_ballots (poll_id, voter, sealed) VALUES (:p, :v, :s) "
                "ON CONFLICT (poll_id, voter) DO UPDATE SET sealed = excluded.sealed",
                {
                    "p": poll_id,
                    "v": new,
                    "s": sealer.seal(json.dumps(theirs).encode(), f"ballot:{poll_id}:{new}"),
                },
            )

    async def answered_open(self, person_id: int) -> list[int]:
        """Polls whose answers are still sealed (open, or closed and not yet published)
        this person took part in."""
        rows = await self.db.fetch(
            "SELECT DISTINCT pp.poll_id FROM poll_participants pp "
            "JOIN sealed_ballots s ON s.poll_id = pp.poll_id "
            "WHERE pp.person_id = :person ORDER BY pp.poll_id",
            {"person": person_id},
        )
        return [r["poll_id"] for r in rows]

    async def _sealed(self, poll_id: int) -> list[tuple[int, int | None]]:
        rows = await self.db.fetch(
            "SELECT voter, sealed FROM sealed_ballots WHERE poll_id = :p", {"p": poll_id}
        )
        return [self._open_ballot(poll_id, r["voter"], r["sealed"]) for r in rows]

    def _open_ballot(self, poll_id: int, voter: str, sealed: Any) -> tuple[int, int | None]:
        inside = json.loads(self._keys().ballots.open(bytes(sealed), f"ballot:{poll_id}:{voter}"))
        return inside["c"], inside["o"]

    async def publish(self, poll: Poll) -> int:
        """Write a closed poll's answers out in the clear, and delete their sealed rows, in
        one transaction that touches nothing else: the answers in a shuffled order under
        random keys, so neither their order, their keys nor their transaction pairs one
        with the person (or the message) it came from. Safe to repeat; returns how many."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM sealed_ballots WHERE poll_id = :p RETURNING voter, sealed",
                {"p": poll.id},
            )
            answers = [self._open_ballot(poll.id, r["voter"], r["sealed"]) for r in rows]
            _SHUFFLE.shuffle(answers)
            await tx.executemany(  # in the shuffled order, so the heap's order is random too
                "INSERT INTO ballots (poll_id, voter, choice, org_id) VALUES (:p, :v, :c, :o)",
                [
                    {"p": poll.id, "v": secrets.token_hex(32), "c": choice, "o": org}
                    for choice, org in answers
                ],
            )
        return len(answers)

    async def tally(self, poll: Poll) -> Tally:
        rows = await self.db.fetch(
            "SELECT org_id, choice, COUNT(*) AS n FROM ballots WHERE poll_id = :p "
            "GROUP BY org_id, choice",
            {"p": poll.id},
        )
        # Answers still sealed (an open poll; or one that came in as it closed) are opened here.
        grouped = [(r["org_id"], r["choice"], r["n"]) for r in rows]
        grouped += [(org, choice, 1) for choice, org in await self._sealed(poll.id)]
        width = len(poll.options)
        counts = [0] * width
        by_org: dict[int, list[int]] = {}
        for org, choice, n in grouped:
            if not 0 <= choice < width:
                continue
            counts[choice] += n
            if org is not None:
                by_org.setdefault(org, [0] * width)[choice] += n
        participants = await self.db.fetchval(
            "SELECT COUNT(*) FROM poll_participants WHERE poll_id = :p", {"p": poll.id}
        )
        return Tally(
            total=sum(counts),
            counts=tuple(counts),
            by_org={org: tuple(c) for org, c in by_org.items()},
            participants=participants or 0,
            joined=await self.joined(poll),
        )

    async def joined(self, poll: Poll) -> int:
        """People who joined the poll's audience (a role it asks, in its subtree) while it
        was open and were not asked when it opened: they may answer, so they are asked from
        then on. Who was asked is what the opening queued (bot.polls.open_poll: one outbox
        key per person, on a template's first question), so a join in the very second of
        the opening is told apart from the roster counted then."""
        first = poll.id
        if poll.series is not None and poll.position > 0:
            first = await self.db.fetchval(
                "SELECT id FROM polls WHERE series = :s AND position = 0", {"s": poll.series}
            )
        roles, role_params = in_list("r", [r.value for r in AUDIENCE_ROLES[poll.audience]])
        found = await self.db.fetchval(
            f"""
            WITH RECURSIVE sub(id) AS (
                SELECT id FROM organisations WHERE id = :root
                UNION
                SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id
            )
            SELECT COUNT(DISTINCT r.person_id) FROM roles r
            WHERE r.role IN ({roles}) AND r.org_id IN (SELECT id FROM sub)
              AND r.created_at >= :opens AND r.created_at < :closes
              AND NOT EXISTS (SELECT 1 FROM outbox o
                              WHERE o.idempotency_key = :asked || CAST(r.person_id AS TEXT))
              AND NOT EXISTS (SELECT 1 FROM roles e
                              WHERE e.person_id = r.person_id AND e.role IN ({roles})
                                AND e.org_id IN (SELECT id FROM sub) AND e.created_at < :opens)
            """,
            {
                "root": poll.org_id,
                "opens": poll.opens_at,
                "closes": poll.closes_at,
                "asked": f"poll:{first}:person:",
                **role_params,
            },
        )
        return found or 0

    async def reach(self, org_id: int, audience: str) -> dict[str, int]:
        """How many people a poll would reach, per channel (each at their preferred
        usable address, as the outbox will choose)."""
        return await audience_reach(
            self.db, root_org_id=org_id, roles=AUDIENCE_ROLES[audience], include_subtree=True
        )

    async def secretaries(self, org_id: int) -> list[int]:
        rows = await self.db.fetch(
            "SELECT person_id FROM roles WHERE org_id = :o AND role = :r",
            {"o": org_id, "r": Role.SECRETARY.value},
        )
        return [r["person_id"] for r in rows]

    async def forget(self, message_id: int, marker: str) -> None:
        """Take an answer that was not counted out of the log, as `cast` does one counted."""
        async with self.db.transaction() as tx:
            await forget_body(tx, message_id, marker)


FORGET_BODY = "UPDATE inbound_messages SET body = :marker, attachments = NULL WHERE id = :id"


async def forget_body(tx: Any, message_id: int, marker: str) -> None:
    """Replace a counted message's text in the log: the answer lives only in its ballot."""
    await tx.execute(FORGET_BODY, {"id": message_id, "marker": marker})


async def hold_comment(
    tx: Any, keys: Keys, comment: NewComment, poll_id: int | None, message_id: int | None
) -> str:
    """Keep a comment sealed until it is published (`publish_comments`): its branch, poll,
    text, code, status, day and a keyed hash of its writer are sealed; the row's id is
    random (no order). Returns its code, which stays the same once published."""
    code = await _free_code(tx, keys)
    row_id = secrets.randbelow(2**62) + 1
    sender = None
    if message_id is not None:
        sender = await tx.fetchrow(
            "SELECT person_id, sender_kind, sender FROM inbound_messages WHERE id = :id",
            {"id": message_id},
        )
    if sender is None:
        identity = f"unknown:{secrets.token_hex(16)}"  # counts as one more writer
    elif sender["person_id"] is not None:
        identity = f"person:{sender['person_id']}"
    else:
        identity = f"address:{sender['sender_kind']}:{sender['sender']}"
    inside = {
        "org": comment.org_id,
        "poll": poll_id,
        "code": code,
        "body": comment.body,
        "status": "held" if comment.held else "published",
        "day": comment.day.isoformat(),
        "writer": keys.writer(identity),
    }
    await tx.execute(
        "INSERT INTO pending_comments (id, sealed, code_tag) VALUES (:id, :s, :tag)",
        {"id": row_id, "s": seal_comment(keys, row_id, inside), "tag": keys.code_tag(code)},
    )
    return code


def seal_comment(keys: Keys, row_id: int, inside: dict[str, Any]) -> bytes:
    plain = json.dumps({**inside, "day": str(inside["day"])}, ensure_ascii=False).encode()
    return keys.comments.seal(plain, f"comment:{row_id}")


async def pending_comments(tx: Any, keys: Keys, code: str | None = None) -> list[dict[str, Any]]:
    """Pending comments opened (the one with `code`, if given): id, org, poll, code, body,
    status, day, writer."""
    where, params = ("code_tag = :tag", {"tag": keys.code_tag(code)}) if code else ("1 = 1", {})
    opened = []
    for row in await tx.fetch(f"SELECT id, sealed FROM pending_comments WHERE {where}", params):
        inside = json.loads(keys.comments.open(bytes(row["sealed"]), f"comment:{row['id']}"))
        opened.append({**inside, "id": row["id"], "day": as_date(inside["day"])})
    return opened


async def _free_code(tx: Any, keys: Keys) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4))
        taken = await tx.fetchval(
            "SELECT 1 FROM comments WHERE code = :c "
            "UNION ALL SELECT 1 FROM pending_comments WHERE code_tag = :tag",
            {"c": code, "tag": keys.code_tag(code)},
        )
        if taken is None:
            return code


async def publish_comments(db: Database, keys: Keys, minimum: int = COMMENT_BATCH) -> int:
    """Publish the pending comments of every (branch, poll, day) that at least `minimum`
    distinct people wrote in, all in one transaction, shuffled: what a published comment
    shows (branch, poll, day) and its transaction then fit at least that many writers.
    Others wait, sealed (those who may read comments see them all the same). Returns how
    many were published."""
    async with db.transaction() as tx:
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for c in await pending_comments(tx, keys):
            groups.setdefault((c["org"], c["poll"], c["day"]), []).append(c)
        batch = [
            c
            for group in groups.values()
            if len({c["writer"] for c in group}) >= minimum
            for c in group
        ]
        _SHUFFLE.shuffle(batch)
        for c in batch:
            await tx.execute("DELETE FROM pending_comments WHERE id = :id", {"id": c["id"]})
        for c in batch:
            await tx.execute(
                "INSERT INTO comments (id, code, org_id, poll_id, body, status, day) "
                "VALUES (:id, :code, :org, :poll, :body, :status, :day)",
                {
                    "id": secrets.randbelow(2**62) + 1,
                    "code": c["code"],
                    "org": c["org"],
                    "poll": c["poll"],
                    "body": c["body"],
                    "status": c["status"],
                    "day": c["day"],
                },
            )
    return len(batch)
