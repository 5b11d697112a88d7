"""Public notices (公示) of shortlists, objections (异议) and outcomes.

The objector of an objection is kept apart from its text (migration 0010): `objections`
returns texts only and is what a secretary's command may read; `objectors` is for the
leaders above the branch, and its callers ask permissions (Action.SEE_OBJECTORS) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from bot.messages import Address, AddressKind
from storage.engine import Database, Row, as_date, as_datetime, in_list
from storage.reports import PREFERRED_ADDRESS


class Outcome(StrEnum):
    COMMENDED = "commended"  # 表彰
    WITHDRAWN = "withdrawn"  # 撤回
    DEFERRED = "deferred"  # 暂缓


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    org_id: int
    org_name: str
    org_timezone: str | None
    round: int
    published_at: datetime
    last_day: date
    ends_at: datetime
    created_by: int | None
    broadcast_id: int | None
    reminded_at: datetime | None
    announced_at: datetime | None

    @property
    def code(self) -> str:
        return f"G{self.id}"

    def is_open(self, now: datetime) -> bool:
        return now < self.ends_at


@dataclass(frozen=True, slots=True)
class Candidate:
    person_id: int
    name: str
    outcome: Outcome | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Objection:
    """What a secretary may see of an objection: never who made it."""

    id: int
    body: str
    day: date


@dataclass(frozen=True, slots=True)
class Objector:
    objection_id: int
    person_id: int
    name: str | None
    address: Address
    phone: str | None = None  # a number to call back: their SMS address, if they have one


@dataclass(frozen=True, slots=True)
class Reachable:
    """A person with the address to reach them by (Telegram before SMS, never opted out)."""

    person_id: int
    name: str | None
    language: str | None
    address: Address


_NOTICE = """
    SELECT n.id, n.org_id, o.name AS org_name, o.timezone, n.round, n.published_at,
           n.last_day, n.ends_at, n.created_by, n.broadcast_id, n.reminded_at, n.announced_at
    FROM public_notices n JOIN organisations o ON o.id = n.org_id
"""


def _notice(row: Row) -> Notice:
    published, ends = as_datetime(row["published_at"]), as_datetime(row["ends_at"])
    last_day = as_date(row["last_day"])
    assert published is not None and ends is not None and last_day is not None
    return Notice(
        id=row["id"],
        org_id=row["org_id"],
        org_name=row["org_name"],
        org_timezone=row["timezone"],
        round=row["round"],
        published_at=published,
        last_day=last_day,
        ends_at=ends,
        created_by=row["created_by"],
        broadcast_id=row["broadcast_id"],
        reminded_at=as_datetime(row["reminded_at"]),
        announced_at=as_datetime(row["announced_at"]),
    )


class PublicNoticeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the shortlist of a round -------------------------------------------------------

    async def set_shortlist(
        self, org_id: int, round_no: int, person_ids: Sequence[int], now: datetime
    ) -> None:
        """Make these people the round's shortlist, in this order (replacing the last one).
        Only a round not yet on notice has a shortlist to change."""
        async with self.db.transaction() as tx:
            published = await tx.fetchval(
                "SELECT id FROM public_notices WHERE org_id = :org AND round = :round",
                {"org": org_id, "round": round_no},
            )
            if published is not None:
                return
            await tx.execute(
                "DELETE FROM notice_candidates WHERE org_id = :org AND round = :round",
                {"org": org_id, "round": round_no},
            )
            await tx.executemany(
                "INSERT INTO notice_candidates (org_id, round, person_id, place) "
                "VALUES (:org, :round, :person, :place)",
                [
                    {"org": org_id, "round": round_no, "person": person, "place": place}
                    for place, person in enumerate(person_ids)
                ],
            )

    async def candidates(self, org_id: int, round_no: int) -> list[Candidate]:
        """The round's shortlist (and, once on notice, each one's outcome), in order."""
        rows = await self.db.fetch(
            """
            SELECT c.person_id, p.name, c.outcome, c.reason
            FROM notice_candidates c JOIN people p ON p.id = c.person_id
            WHERE c.org_id = :org AND c.round = :round
            ORDER BY c.place
            """,
            {"org": org_id, "round": round_no},
        )
        return [
            Candidate(
                r["person_id"],
                r["name"] or "?",
                Outcome(r["outcome"]) if r["outcome"] else None,
                r["reason"],
            )
            for r in rows
        ]

    # --- notices ------------------------------------------------------------------------

    async def publish(
        self,
        *,
        org_id: int,
        round_no: int,
        last_day: date,
        ends_at: datetime,
        created_by: int | None,
        source: str,
        now: datetime,
    ) -> Notice:
        """Put the round's shortlist on notice; the notice already made for `source` if the
        message is handled again."""
        rows = await self.db.write(
            """
            INSERT INTO public_notices (org_id, round, published_at, last_day, ends_at,
                                        created_by, source)
            VALUES (:org, :round, :now, :last_day, :ends_at, :by, :source)
            ON CONFLICT (source) DO NOTHING
            RETURNING id
            """,
            {
                "org": org_id,
                "round": round_no,
                "now": now,
                "last_day": last_day,
                "ends_at": ends_at,
                "by": created_by,
                "source": source,
            },
        )
        notice_id = (
            rows[0]["id"]
            if rows
            else await self.db.fetchval(
                "SELECT id FROM public_notices WHERE source = :s", {"s": source}
            )
        )
        notice = await self.get(notice_id)
        assert notice is not None
        return notice

    async def by_source(self, source: str) -> Notice | None:
        row = await self.db.fetchrow(f"{_NOTICE} WHERE n.source = :s", {"s": source})
        return _notice(row) if row else None

    async def set_broadcast(self, notice_id: int, broadcast_id: int) -> None:
        await self.db.write(
            "UPDATE public_notices SET broadcast_id = :b WHERE id = :id",
            {"b": broadcast_id, "id": notice_id},
        )

    async def get(self, notice_id: int) -> Notice | None:
        row = await self.db.fetchrow(f"{_NOTICE} WHERE n.id = :id", {"id": notice_id})
        return _notice(row) if row else None

    async def latest(self, org_id: int) -> Notice | None:
        row = await self.db.fetchrow(
            f"{_NOTICE} WHERE n.org_id = :org ORDER BY n.id DESC LIMIT 1", {"org": org_id}
        )
        return _notice(row) if row else None

    async def open_in(self, org_ids: Sequence[int], now: datetime) -> list[Notice]:
        """Notices of these organisations whose period is running."""
        if not org_ids:
            return []
        orgs, params = in_list("org", org_ids)
        rows = await self.db.fetch(
            f"{_NOTICE} WHERE n.org_id IN ({orgs}) AND n.ends_at > :now ORDER BY n.id",
            {**params, "now": now},
        )
        return [_notice(r) for r in rows]

    async def ended_unreminded(self, now: datetime) -> list[Notice]:
        """Notices whose period has ended with no outcome and no reminder yet."""
        rows = await self.db.fetch(
            f"""{_NOTICE}
            WHERE n.ends_at <= :now AND n.announced_at IS NULL AND n.reminded_at IS NULL
            ORDER BY n.id""",
            {"now": now},
        )
        return [_notice(r) for r in rows]

    async def mark_reminded(self, notice_id: int, now: datetime) -> None:
        await self.db.write(
            "UPDATE public_notices SET reminded_at = :now WHERE id = :id AND reminded_at IS NULL",
            {"id": notice_id, "now": now},
        )

    # --- outcomes -----------------------------------------------------------------------

    async def decide(
        self,
        notice: Notice,
        person_ids: Sequence[int] | None,
        outcome: Outcome,
        reason: str | None,
        now: datetime,
    ) -> int:
        """Record an outcome for these candidates, or for every undecided one if None.
        Nothing changes once the outcome was announced. Returns the candidates changed."""
        params: dict[str, Any] = {
            "org": notice.org_id,
            "round": notice.round,
            "outcome": outcome.value,
            "reason": reason,
            "now": now,
            "notice": notice.id,
        }
        if person_ids is None:
            which = "AND outcome IS NULL"
        else:
            people, extra = in_list("p", person_ids)
            which = f"AND person_id IN ({people})"
            params.update(extra)
        rows = await self.db.write(
            f"""
            UPDATE notice_candidates SET outcome = :outcome, reason = :reason, decided_at = :now
            WHERE org_id = :org AND round = :round {which}
              AND NOT EXISTS (SELECT 1 FROM public_notices
                              WHERE id = :notice AND announced_at IS NOT NULL)
            RETURNING person_id
            """,
            params,
        )
        return len(rows)

    async def mark_announced(self, notice_id: int, now: datetime) -> bool:
        """True the first time: the outcome is announced once."""
        rows = await self.db.write(
            "UPDATE public_notices SET announced_at = :now "
            "WHERE id = :id AND announced_at IS NULL RETURNING id",
            {"id": notice_id, "now": now},
        )
        return bool(rows)

    async def announce(
        self,
        *,
        notice: Notice,
        broadcast_id: int,
        texts: dict[str, str],
        default_language: str,
        now: datetime,
    ) -> int:
        """Queue the outcome to every address the notice was queued to (still usable), in
        the person's language. Returns the number of messages the broadcast has."""
        await self.db.write(
            """
            INSERT INTO outbox (idempotency_key, address_kind, address, body, not_before,
                                created_at, updated_at, urgent, broadcast_id)
            SELECT :prefix || ':person:' || a.person_id, a.kind, a.value,
                   CASE WHEN COALESCE(p.language, :default_language) = 'en'
                        THEN :body_en ELSE :body_zh END,
                   :now, :now, :now, :urgent, :broadcast_id
            FROM outbox n
            JOIN addresses a ON a.kind = n.address_kind AND a.value = n.address
            JOIN people p ON p.id = a.person_id
            WHERE n.broadcast_id = :notice_broadcast
              AND a.opted_out_at IS NULL AND a.invalid_at IS NULL
            ON CONFLICT DO NOTHING
            """,
            {
                "prefix": f"notice_outcome:{notice.id}",
                "default_language": default_language,
                "body_en": texts["en"],
                "body_zh": texts["zh-CN"],
                "now": now,
                "urgent": False,
                "broadcast_id": broadcast_id,
                "notice_broadcast": notice.broadcast_id,
            },
        )
        rows = await self.db.write(
            "UPDATE broadcasts SET total = (SELECT COUNT(*) FROM outbox WHERE broadcast_id = :b)"
            " WHERE id = :b RETURNING total",
            {"b": broadcast_id},
        )
        return rows[0]["total"]

    # --- objections ---------------------------------------------------------------------

    async def add_objection(
        self,
        *,
        notice_id: int,
        body: str,
        day: date,
        person_id: int,
        address: Address,
        source: str,
    ) -> tuple[int, bool]:
        """Store an objection and, apart, who made it. Returns its id and whether it is
        new (False: this message was handled before)."""
        async with self.db.transaction() as tx:
            seen = await tx.fetchval(
                "SELECT objection_id FROM objectors WHERE source = :s", {"s": source}
            )
            if seen is not None:
                return seen, False
            objection_id = await tx.fetchval(
                "INSERT INTO objections (notice_id, body, day) VALUES (:notice, :body, :day) "
                "RETURNING id",
                {"notice": notice_id, "body": body, "day": day},
            )
            await tx.execute(
                "INSERT INTO objectors (objection_id, person_id, address_kind, address, source) "
                "VALUES (:id, :person, :kind, :address, :source)",
                {
                    "id": objection_id,
                    "person": person_id,
                    "kind": address.kind.value,
                    "address": address.value,
                    "source": source,
                },
            )
        return objection_id, True

    async def objections(self, notice_id: int) -> list[Objection]:
        """The objections to a notice, texts and days only."""
        rows = await self.db.fetch(
            "SELECT id, body, day FROM objections WHERE notice_id = :n ORDER BY id",
            {"n": notice_id},
        )
        result = []
        for r in rows:
            day = as_date(r["day"])
            assert day is not None
            result.append(Objection(r["id"], r["body"], day))
        return result

    async def objectors(self, notice_id: int) -> dict[int, Objector]:
        """Who made each objection to a notice. Only for those allowed SEE_OBJECTORS."""
        rows = await self.db.fetch(
            """
            SELECT w.objection_id, w.person_id, p.name, w.address_kind, w.address,
                   (SELECT a.value FROM addresses a
                    WHERE a.person_id = w.person_id AND a.kind = 'sms'
                    ORDER BY a.id LIMIT 1) AS phone
            FROM objectors w
            JOIN objections j ON j.id = w.objection_id
            JOIN people p ON p.id = w.person_id
            WHERE j.notice_id = :n
            """,
            {"n": notice_id},
        )
        return {
            r["objection_id"]: Objector(
                r["objection_id"],
                r["person_id"],
                r["name"],
                Address(AddressKind(r["address_kind"]), r["address"]),
                r["phone"],
            )
            for r in rows
        }

    async def phone_of(self, person_id: int) -> str | None:
        """A number to call a person back on (their first SMS address), if any."""
        return await self.db.fetchval(
            "SELECT value FROM addresses WHERE person_id = :p AND kind = 'sms' ORDER BY id LIMIT 1",
            {"p": person_id},
        )

    async def objection_count(self, notice_id: int) -> int:
        count = await self.db.fetchval(
            "SELECT COUNT(*) AS n FROM objections WHERE notice_id = :n", {"n": notice_id}
        )
        return int(count or 0)

    # --- whom to tell -------------------------------------------------------------------

    async def holders(self, org_ids: Sequence[int], roles: Sequence[str]) -> list[Reachable]:
        """People holding one of `roles` in one of these organisations, once each."""
        if not org_ids:
            return []
        orgs, org_params = in_list("org", org_ids)
        role_list, role_params = in_list("role", roles)
        rows = await self.db.fetch(
            f"""
            SELECT p.id AS person_id, p.name, p.language, pa.kind, pa.value
            FROM people p JOIN ({PREFERRED_ADDRESS}) pa ON pa.person_id = p.id
            WHERE p.id IN (SELECT r.person_id FROM roles r
                           WHERE r.org_id IN ({orgs}) AND r.role IN ({role_list}))
            ORDER BY p.id
            """,
            {**org_params, **role_params},
        )
        return [_reachable(r) for r in rows]

    async def reachable(self, person_ids: Sequence[int]) -> list[Reachable]:
        if not person_ids:
            return []
        people, params = in_list("p", person_ids)
        rows = await self.db.fetch(
            f"""
            SELECT p.id AS person_id, p.name, p.language, pa.kind, pa.value
            FROM people p JOIN ({PREFERRED_ADDRESS}) pa ON pa.person_id = p.id
            WHERE p.id IN ({people}) ORDER BY p.id
            """,
            params,
        )
        return [_reachable(r) for r in rows]


def _reachable(row: Row) -> Reachable:
    return Reachable(
        row["person_id"],
        row["name"],
        row["language"],
        Address(AddressKind(row["kind"]), row["value"]),
    )
