"""Read-only queries behind an organisation's public page (/o/<code>): what the campaign
publishes, aggregated in SQL, a few queries per page whatever the branch's size.

Nothing here returns a phone number, a villager, a ballot, an objector or a comment's author:
people's names come only with their published commitments and with candidates on notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from storage.commitments import Commitment, commitment_of
from storage.engine import Database, Row, as_date, as_datetime, in_list
from storage.polls import Poll, Tally

_MEMBER_ROLES = "('member', 'secretary')"


@dataclass(slots=True)
class UnitFigures:
    """One organisation's own figures (not its subtree's)."""

    members: int = 0  # Party members on its roster, secretaries included
    reporters: int = 0  # of them, how many reported this week
    deeds: int = 0  # deeds reported this week
    made: int = 0  # published commitments
    done: int = 0
    overdue: int = 0  # open and due before today


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    outcome: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class NoticeView:
    id: int
    round: int
    last_day: date
    ends_at: datetime
    announced: bool
    candidates: list[Candidate]


@dataclass(frozen=True, slots=True)
class Remark:
    """A leader's commentary (by: the author's organisation) or a briefing (by: the
    organisation it was addressed to)."""

    by: str | None
    body: str
    at: datetime


class OrgPageQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def figures(
        self, org_ids: Sequence[int], week: date, today: date
    ) -> dict[int, UnitFigures]:
        """Each organisation's own members, reporters and deeds in the week beginning
        `week`, and its published commitments: three grouped queries."""
        found = {org: UnitFigures() for org in org_ids}
        if not org_ids:
            return found
        orgs, params = in_list("o", org_ids)
        window = {**params, "week": week, "today": today}
        for r in await self.db.fetch(
            f"""
            WITH m AS (SELECT DISTINCT org_id, person_id FROM roles
                       WHERE org_id IN ({orgs}) AND role IN {_MEMBER_ROLES}),
            w AS (SELECT DISTINCT org_id, person_id FROM deeds
                  WHERE org_id IN ({orgs}) AND local_day >= :week)
            SELECT m.org_id, COUNT(*) AS members, COUNT(w.person_id) AS reporters
            FROM m LEFT JOIN w ON w.org_id = m.org_id AND w.person_id = m.person_id
            GROUP BY m.org_id
            """,
            window,
        ):
            found[r["org_id"]].members = int(r["members"])
            found[r["org_id"]].reporters = int(r["reporters"])
        for r in await self.db.fetch(
            f"SELECT org_id, COUNT(*) AS n FROM deeds WHERE org_id IN ({orgs}) "
            "AND local_day >= :week GROUP BY org_id",
            window,
        ):
            found[r["org_id"]].deeds = int(r["n"])
        for r in await self.db.fetch(
            f"""
            SELECT org_id, COUNT(*) AS made,
                   SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS done,
                   SUM(CASE WHEN status = 'open' AND due_on < :today THEN 1 ELSE 0 END)
                       AS overdue
            FROM commitments
            WHERE org_id IN ({orgs}) AND published_at IS NOT NULL
            GROUP BY org_id
            """,
            window,
        ):
            figures = found[r["org_id"]]
            figures.made = int(r["made"])
            figures.done = int(r["done"] or 0)
            figures.overdue = int(r["overdue"] or 0)
        return found

    async def commitments(self, org_id: int, today: date, limit: int = 30) -> list[Commitment]:
        """The organisation's published commitments (only those: a branch publishing weekly
        or by hand has not made the others public yet): overdue first, then open by due
        day, then the done ones, latest first."""
        rows = await self.db.fetch(
            """
            SELECT c.id, c.org_id, c.person_id, p.name AS author, c.body, c.due_on, c.status,
                   c.created_at, c.publish_at, c.published_at, c.done_at, 0 AS progress
            FROM commitments c LEFT JOIN people p ON p.id = c.person_id
            WHERE c.org_id = :org AND c.published_at IS NOT NULL
            ORDER BY CASE WHEN c.status = 'open' AND c.due_on < :today THEN 0
                          WHEN c.status = 'open' THEN 1 ELSE 2 END,
                     CASE WHEN c.status = 'open' THEN c.due_on END,
                     c.done_at DESC, c.id
            LIMIT :limit
            """,
            {"org": org_id, "today": today, "limit": limit},
        )
        return [commitment_of(r) for r in rows]

    async def published_tallies(self, polls: Sequence[Poll]) -> tuple[dict[int, Tally], set[int]]:
        """The published answers of closed polls, counted in one grouped query; and the ids
        of those with answers still sealed (closed by the clock, not yet swept), which the
        caller counts with PollRepository.tally."""
        if not polls:
            return {}, set()
        ids, params = in_list("p", [p.id for p in polls])
        rows = await self.db.fetch(
            f"SELECT poll_id, org_id, choice, COUNT(*) AS n FROM ballots "
            f"WHERE poll_id IN ({ids}) GROUP BY poll_id, org_id, choice",
            params,
        )
        sealed = {
            r["poll_id"]
            for r in await self.db.fetch(
                f"SELECT DISTINCT poll_id FROM sealed_ballots WHERE poll_id IN ({ids})", params
            )
        }
        counts = {p.id: [0] * len(p.options) for p in polls}
        by_org: dict[int, dict[int, list[int]]] = {p.id: {} for p in polls}
        for r in rows:
            width = len(counts[r["poll_id"]])
            if not 0 <= r["choice"] < width:
                continue
            counts[r["poll_id"]][r["choice"]] += int(r["n"])
            if r["org_id"] is not None:
                by_org[r["poll_id"]].setdefault(r["org_id"], [0] * width)[r["choice"]] += int(
                    r["n"]
                )
        tallies = {
            p.id: Tally(
                total=sum(counts[p.id]),
                counts=tuple(counts[p.id]),
                by_org={org: tuple(c) for org, c in by_org[p.id].items()},
                participants=sum(counts[p.id]),
            )
            for p in polls
        }
        return tallies, sealed

    async def notices(self, org_id: int, now: datetime, limit: int = 5) -> list[NoticeView]:
        """Notices in progress and the latest announced outcomes, with their candidates
        (names and outcomes; never an objection or who made one)."""
        rows = await self.db.fetch(
            """
            SELECT id, round, last_day, ends_at, announced_at FROM public_notices
            WHERE org_id = :org AND (ends_at > :now OR announced_at IS NOT NULL)
            ORDER BY id DESC LIMIT :limit
            """,
            {"org": org_id, "now": now, "limit": limit},
        )
        if not rows:
            return []
        rounds, params = in_list("r", [r["round"] for r in rows])
        people: dict[int, list[Candidate]] = {}
        for c in await self.db.fetch(
            f"""
            SELECT c.round, p.name, c.outcome, c.reason
            FROM notice_candidates c JOIN people p ON p.id = c.person_id
            WHERE c.org_id = :org AND c.round IN ({rounds}) ORDER BY c.round, c.place
            """,
            {"org": org_id, **params},
        ):
            people.setdefault(c["round"], []).append(
                Candidate(c["name"] or "?", c["outcome"], c["reason"])
            )
        found = []
        for r in rows:
            last_day, ends = as_date(r["last_day"]), as_datetime(r["ends_at"])
            assert last_day is not None and ends is not None
            announced = r["announced_at"] is not None
            candidates = people.get(r["round"], [])
            if not announced:  # an outcome recorded but not yet announced stays unsaid
                candidates = [Candidate(c.name, None, None) for c in candidates]
            found.append(NoticeView(r["id"], r["round"], last_day, ends, announced, candidates))
        return found

    async def commentary(self, org_id: int, limit: int = 10) -> list[Remark]:
        """Leaders' commentary on the organisation, newest first, signed by the author's
        organisation (a leader's office, not a person)."""
        rows = await self.db.fetch(
            """
            SELECT o.name AS by_org, c.body, c.created_at FROM commentary c
            LEFT JOIN organisations o ON o.id = c.author_org_id
            WHERE c.org_id = :org ORDER BY c.created_at DESC, c.id DESC LIMIT :limit
            """,
            {"org": org_id, "limit": limit},
        )
        return [_remark(r) for r in rows]

    async def briefings(self, org_id: int, above: Sequence[int], limit: int = 10) -> list[Remark]:
        """Briefings to the organisation's public: its own, and those of the organisations
        `above` it sent to their whole subtree; newest first."""
        ups, params = in_list("u", above or [-1])
        rows = await self.db.fetch(
            f"""
            SELECT o.name AS by_org, b.body, b.created_at FROM briefings b
            JOIN organisations o ON o.id = b.org_id
            WHERE b.org_id = :org OR (b.subtree = :yes AND b.org_id IN ({ups}))
            ORDER BY b.created_at DESC, b.id DESC LIMIT :limit
            """,
            {"org": org_id, "yes": True, "limit": limit, **params},
        )
        return [_remark(r) for r in rows]


def _remark(row: Row) -> Remark:
    at = as_datetime(row["created_at"])
    assert at is not None
    return Remark(row["by_org"], row["body"], at)
