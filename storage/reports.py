"""Read models for the scheduler: who gets reminders, nudges and digests, and what they say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.messages import Address, AddressKind
from storage.engine import Database, Row, as_datetime
from storage.models import Category, Role

# Each person's preferred usable address: Telegram before SMS, never an opted-out or
# invalid one. A person without one gets nothing (and is not counted as reachable).
PREFERRED_ADDRESS = """
    SELECT person_id, kind, value FROM (
        SELECT a.person_id, a.kind, a.value,
               ROW_NUMBER() OVER (
                   PARTITION BY a.person_id
                   ORDER BY CASE a.kind WHEN 'telegram' THEN 0 ELSE 1 END, a.id
               ) AS preference
        FROM addresses a
        WHERE a.person_id IS NOT NULL AND a.opted_out_at IS NULL AND a.invalid_at IS NULL
    ) ranked WHERE ranked.preference = 1
"""
_MEMBER_ROLES = "('member', 'secretary')"
# People by role, with what a Recipient needs; callers add WHERE and ORDER BY.
_RECIPIENTS = f"""
    SELECT r.person_id, p.name, p.language, pa.kind, pa.value, o.id AS org_id,
           o.name AS org_name
    FROM roles r
    JOIN people p ON p.id = r.person_id
    JOIN organisations o ON o.id = r.org_id
    JOIN ({PREFERRED_ADDRESS}) pa ON pa.person_id = r.person_id
"""
_SUBTREE = """
    WITH RECURSIVE sub(id) AS (
        SELECT id FROM organisations WHERE id = :root
        UNION
        SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id
    )
"""


@dataclass(frozen=True, slots=True)
class Recipient:
    person_id: int
    name: str | None
    language: str | None
    address: Address
    org_id: int
    org_name: str


@dataclass(frozen=True, slots=True)
class Digest:
    by_category: dict[Category | None, int]
    top: list[tuple[str, int]]  # most active members and their reports
    members: int
    reporters: int

    @property
    def total(self) -> int:
        return sum(self.by_category.values())


@dataclass(frozen=True, slots=True)
class CommitmentFigures:
    """Public commitments (公开承诺) for a digest."""

    due: int  # open, due in the week that begins
    done: int  # done in the week reported
    overdue: int  # open, due before the week that begins
    overdue_codes: list[str]  # the first few, as C<id>

    @property
    def any(self) -> bool:
        return bool(self.due or self.done or self.overdue)


def _recipient(row: Row) -> Recipient:
    return Recipient(
        row["person_id"],
        row["name"],
        row["language"],
        Address(AddressKind(row["kind"]), row["value"]),
        row["org_id"],
        row["org_name"],
    )


class ReportRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def holders(self, role: Role) -> list[Recipient]:
        """Everyone holding `role`, once per organisation, with an address to reach them."""
        rows = await self.db.fetch(
            f"""
            {_RECIPIENTS}
            WHERE r.role = :role
            ORDER BY o.code, r.person_id
            """,
            {"role": role.value},
        )
        return [_recipient(r) for r in rows]

    async def silent_members(self, org_id: int, since: date) -> list[str]:
        """Names of the branch's members with no report since `since`."""
        rows = await self.db.fetch(
            f"""
            SELECT DISTINCT p.id, p.name FROM roles r JOIN people p ON p.id = r.person_id
            WHERE r.org_id = :org AND r.role IN {_MEMBER_ROLES}
              AND NOT EXISTS (SELECT 1 FROM deeds d
                              WHERE d.person_id = p.id AND d.local_day >= :since)
            ORDER BY p.id
            """,
            {"org": org_id, "since": since},
        )
        return [r["name"] or "?" for r in rows]

    async def unreported_today(self, day: date) -> list[Recipient]:
        """Members who want the daily nudge and have not reported on `day`."""
        rows = await self.db.fetch(
            f"""
            {_RECIPIENTS}
            WHERE r.role IN {_MEMBER_ROLES} AND p.nudges
              AND NOT EXISTS (SELECT 1 FROM deeds d
                              WHERE d.person_id = p.id AND d.local_day = :day)
            ORDER BY r.person_id
            """,
            {"day": day},
        )
        seen: set[int] = set()
        unique = []
        for row in rows:  # a member of two branches is nudged once
            if row["person_id"] not in seen:
                seen.add(row["person_id"])
                unique.append(_recipient(row))
        return unique

    async def digest(
        self, root_org_id: int, subtree: bool, since: date, until: date, top: int = 3
    ) -> Digest:
        """Reports made in [since, until) in an organisation (and below it if `subtree`),
        for a weekly digest. The subtree is walked in the database: a province's leader has
        tens of thousands of organisations below them."""
        scope = _scope(subtree)
        window = {"root": root_org_id, "since": since, "until": until}
        categories = await self.db.fetch(
            f"""{scope}
            SELECT category, COUNT(*) AS n FROM deeds
            WHERE org_id IN (SELECT id FROM sub) AND local_day >= :since AND local_day < :until
            GROUP BY category""",
            window,
        )
        leaders = await self.db.fetch(
            f"""{scope}
            SELECT p.name, COUNT(*) AS n FROM deeds d JOIN people p ON p.id = d.person_id
            WHERE d.org_id IN (SELECT id FROM sub)
              AND d.local_day >= :since AND d.local_day < :until
            GROUP BY p.id, p.name ORDER BY n DESC, p.id LIMIT :top""",
            {**window, "top": top},
        )
        people = await self.db.fetchrow(
            f"""{scope}
            SELECT COUNT(DISTINCT r.person_id) AS members,
                   COUNT(DISTINCT d.person_id) AS reporters
            FROM roles r
            LEFT JOIN deeds d ON d.person_id = r.person_id AND d.org_id = r.org_id
                 AND d.local_day >= :since AND d.local_day < :until
            WHERE r.org_id IN (SELECT id FROM sub) AND r.role IN {_MEMBER_ROLES}""",
            window,
        )
        assert people is not None
        return Digest(
            by_category={
                Category(r["category"]) if r["category"] else None: int(r["n"]) for r in categories
            },
            top=[(r["name"] or "?", int(r["n"])) for r in leaders],
            members=int(people["members"]),
            reporters=int(people["reporters"]),
        )

    async def commitment_figures(
        self,
        root_org_id: int,
        subtree: bool,
        week: date,
        done_since: datetime,
        done_until: datetime,
        codes: int = 3,
    ) -> CommitmentFigures:
        """Commitments due in the week beginning `week`, done in [done_since, done_until),
        and overdue (open, due before `week`), in an organisation (and below if `subtree`)."""
        scope = _scope(subtree)
        row = await self.db.fetchrow(
            f"""{scope}
            SELECT
              SUM(CASE WHEN status = 'open' AND due_on >= :week AND due_on < :next
                  THEN 1 ELSE 0 END) AS due,
              SUM(CASE WHEN status = 'done' AND done_at >= :since AND done_at < :until
                  THEN 1 ELSE 0 END) AS done,
              SUM(CASE WHEN status = 'open' AND due_on < :week THEN 1 ELSE 0 END) AS overdue
            FROM commitments WHERE org_id IN (SELECT id FROM sub)""",
            {
                "root": root_org_id,
                "week": week,
                "next": week + timedelta(days=7),
                "since": done_since,
                "until": done_until,
            },
        )
        overdue = await self.db.fetch(
            f"""{scope}
            SELECT id FROM commitments
            WHERE org_id IN (SELECT id FROM sub) AND status = 'open' AND due_on < :week
            ORDER BY due_on, id LIMIT :codes""",
            {"root": root_org_id, "week": week, "codes": codes},
        )
        assert row is not None
        return CommitmentFigures(
            due=int(row["due"] or 0),
            done=int(row["done"] or 0),
            overdue=int(row["overdue"] or 0),
            overdue_codes=[f"C{r['id']}" for r in overdue],
        )

    async def commentary_received(
        self, root_org_id: int, subtree: bool, since: datetime, until: datetime
    ) -> list[str]:
        """Who commented (点评) on the organisation (and below if `subtree`) in
        [since, until): one entry per commentary, oldest first."""
        rows = await self.db.fetch(
            f"""{_scope(subtree)}
            SELECT COALESCE(p.name, o.name, '?') AS author FROM commentary c
            LEFT JOIN people p ON p.id = c.author_id
            LEFT JOIN organisations o ON o.id = c.author_org_id
            WHERE c.org_id IN (SELECT id FROM sub)
              AND c.created_at >= :since AND c.created_at < :until
            ORDER BY c.created_at, c.id""",
            {"root": root_org_id, "since": since, "until": until},
        )
        return [r["author"] for r in rows]

    async def ran_at(self, key: str) -> datetime | None:
        """When a job ran for a period (the previous digest, say), if it did."""
        return as_datetime(
            await self.db.fetchval("SELECT ran_at FROM job_runs WHERE key = :k", {"k": key})
        )


def _scope(subtree: bool) -> str:
    return (
        _SUBTREE if subtree else "WITH sub(id) AS (SELECT id FROM organisations WHERE id = :root)"
    )
