"""Read models for the scheduler: who gets reminders, nudges and digests, and what they say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.messages import Address, AddressKind
from storage.engine import Database, Row, as_datetime
from storage.models import Category, Role
from storage.orgs import ONE_ORG, SUBTREE

# Each person's preferred usable address: a chat (Telegram, WeChat) before SMS, never an
# opted-out or invalid one. A person without one gets nothing (and is not counted as reachable).
PREFERRED_ADDRESS = """
    SELECT person_id, kind, value FROM (
        SELECT a.person_id, a.kind, a.value,
               ROW_NUMBER() OVER (
                   PARTITION BY a.person_id
                   ORDER BY CASE a.kind WHEN 'sms' THEN 1 ELSE 0 END, a.id
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
# Later than any stored instant: "everyone on the roster" when no cut-off is given.
_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


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
    # Members holding the plain member role (a secretary alone is a branch not yet on the
    # roster), and members on the roster since the window began (the rest could not be
    # expected to report in it: no week before the deployment counts as inactive).
    rank_and_file: int = 0
    settled: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_category.values())


@dataclass(frozen=True, slots=True)
class BranchWeek:
    """One organisation's members and their reports in a window (a secretary's 本周)."""

    members: int  # Party members on its roster (the secretary included)
    reporters: int  # of them, how many reported
    deeds: int  # reports filed in the organisation
    silent: list[str]  # the first names of those who did not report, in roster order
    active: list[tuple[str, int]]  # the first reporters, most reports first


@dataclass(frozen=True, slots=True)
class UnitWeek:
    """One organisation with members, below a leader, in a window."""

    name: str
    members: int
    reporters: int
    deeds: int


@dataclass(frozen=True, slots=True)
class SubtreeWeek:
    """The organisations with members in a subtree (a leader's 本周), inactive first."""

    units: int  # organisations with members
    inactive: int  # of them, how many had no report
    members: int
    reporters: int
    deeds: int  # every report filed in the subtree
    rows: list[UnitWeek]  # the first few, inactive first, then the least active


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
        self,
        root_org_id: int,
        subtree: bool,
        since: date,
        until: date,
        top: int = 3,
        settled_before: datetime | None = None,
    ) -> Digest:
        """Reports made in [since, until) in an organisation (and below it if `subtree`),
        for a weekly digest. The subtree is walked in the database: a province's leader has
        tens of thousands of organisations below them. `settled_before`: the instant the
        window began; members on the roster since then are counted as `settled`."""
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
                   COUNT(DISTINCT d.person_id) AS reporters,
                   COUNT(DISTINCT CASE WHEN r.role = 'member' THEN r.person_id END)
                       AS rank_and_file,
                   COUNT(DISTINCT CASE WHEN r.created_at < :settled THEN r.person_id END)
                       AS settled
            FROM roles r
            LEFT JOIN deeds d ON d.person_id = r.person_id AND d.org_id = r.org_id
                 AND d.local_day >= :since AND d.local_day < :until
            WHERE r.org_id IN (SELECT id FROM sub) AND r.role IN {_MEMBER_ROLES}""",
            {**window, "settled": settled_before or _NEVER},
        )
        assert people is not None
        return Digest(
            by_category={
                Category(r["category"]) if r["category"] else None: int(r["n"]) for r in categories
            },
            top=[(r["name"] or "?", int(r["n"])) for r in leaders],
            members=int(people["members"]),
            reporters=int(people["reporters"]),
            rank_and_file=int(people["rank_and_file"]),
            settled=int(people["settled"]),
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

    async def public_messages_received(
        self, root_org_id: int, subtree: bool, since: datetime, until: datetime
    ) -> int:
        """Villagers' messages (群众留言) to the organisation (and below if `subtree`) in
        [since, until)."""
        count = await self.db.fetchval(
            f"""{_scope(subtree)}
            SELECT COUNT(*) FROM public_messages
            WHERE org_id IN (SELECT id FROM sub)
              AND created_at >= :since AND created_at < :until""",
            {"root": root_org_id, "since": since, "until": until},
        )
        return int(count or 0)

    async def ran_at(self, key: str) -> datetime | None:
        """When a job ran for a period (the previous digest, say), if it did."""
        return as_datetime(
            await self.db.fetchval("SELECT ran_at FROM job_runs WHERE key = :k", {"k": key})
        )

    # --- issue 11.4 and 11.14: a branch's week from the phone; who was inactive ----------

    async def rank_and_file(self, org_id: int) -> int:
        """Holders of the plain member role in an organisation: a secretary alone is a
        branch whose roster has not been imported, and is not reminded about it."""
        return int(
            await self.db.fetchval(
                "SELECT COUNT(*) FROM roles WHERE org_id = :org AND role = 'member'",
                {"org": org_id},
            )
        )

    async def branch_week(
        self, org_id: int, since: date, until: date, names: int = 30
    ) -> BranchWeek:
        """An organisation's members and their reports in [since, until): totals, and the
        first `names` of those who did not report and of those who did (enough for an SMS;
        a branch of hundreds is not loaded)."""
        window = {"org": org_id, "since": since, "until": until, "names": names}
        rows = await self.db.fetch(
            f"""
            WITH m AS (SELECT DISTINCT person_id FROM roles
                       WHERE org_id = :org AND role IN {_MEMBER_ROLES}),
            c AS (SELECT m.person_id, COUNT(d.id) AS n FROM m
                  LEFT JOIN deeds d ON d.person_id = m.person_id AND d.org_id = :org
                       AND d.local_day >= :since AND d.local_day < :until
                  GROUP BY m.person_id),
            ranked AS (
                SELECT p.name, c.n,
                       ROW_NUMBER() OVER (PARTITION BY CASE WHEN c.n > 0 THEN 1 ELSE 0 END
                                          ORDER BY c.n DESC, p.id) AS k,
                       COUNT(*) OVER () AS members,
                       SUM(CASE WHEN c.n > 0 THEN 1 ELSE 0 END) OVER () AS reporters
                FROM c JOIN people p ON p.id = c.person_id)
            SELECT name, n, members, reporters FROM ranked WHERE k <= :names
            ORDER BY CASE WHEN n > 0 THEN 1 ELSE 0 END, k""",
            window,
        )
        deeds = await self.db.fetchval(
            """SELECT COUNT(*) FROM deeds
            WHERE org_id = :org AND local_day >= :since AND local_day < :until""",
            window,
        )
        return BranchWeek(
            members=int(rows[0]["members"]) if rows else 0,
            reporters=int(rows[0]["reporters"]) if rows else 0,
            deeds=int(deeds),
            silent=[r["name"] or "?" for r in rows if not r["n"]],
            active=[(r["name"] or "?", int(r["n"])) for r in rows if r["n"]],
        )

    async def subtree_week(
        self, root_org_id: int, since: date, until: date, rows: int = 30
    ) -> SubtreeWeek:
        """The organisations with members in a subtree and their reports in [since, until):
        totals, and the first `rows`, those with no report first, then the least active."""
        window = {"root": root_org_id, "since": since, "until": until, "rows": rows}
        found = await self.db.fetch(
            f"""{SUBTREE},
            m AS (SELECT DISTINCT r.org_id, r.person_id FROM roles r
                  WHERE r.org_id IN (SELECT id FROM sub) AND r.role IN {_MEMBER_ROLES}),
            pm AS (SELECT m.org_id, m.person_id, COUNT(d.id) AS n FROM m
                   LEFT JOIN deeds d ON d.person_id = m.person_id AND d.org_id = m.org_id
                        AND d.local_day >= :since AND d.local_day < :until
                   GROUP BY m.org_id, m.person_id),
            u AS (SELECT org_id, COUNT(*) AS members,
                         SUM(CASE WHEN n > 0 THEN 1 ELSE 0 END) AS reporters, SUM(n) AS deeds
                  FROM pm GROUP BY org_id)
            SELECT o.name, u.members, u.reporters, u.deeds,
                   COUNT(*) OVER () AS units,
                   SUM(CASE WHEN u.reporters = 0 THEN 1 ELSE 0 END) OVER () AS inactive,
                   SUM(u.members) OVER () AS all_members,
                   SUM(u.reporters) OVER () AS all_reporters
            FROM u JOIN organisations o ON o.id = u.org_id
            ORDER BY CASE WHEN u.reporters = 0 THEN 0 ELSE 1 END,
                     u.reporters * 1.0 / u.members, o.code
            LIMIT :rows""",
            window,
        )
        deeds = await self.db.fetchval(
            f"""{SUBTREE}
            SELECT COUNT(*) FROM deeds WHERE org_id IN (SELECT id FROM sub)
              AND local_day >= :since AND local_day < :until""",
            window,
        )
        first = found[0] if found else None
        return SubtreeWeek(
            units=int(first["units"]) if first else 0,
            inactive=int(first["inactive"]) if first else 0,
            members=int(first["all_members"]) if first else 0,
            reporters=int(first["all_reporters"]) if first else 0,
            deeds=int(deeds),
            rows=[
                UnitWeek(r["name"], int(r["members"]), int(r["reporters"]), int(r["deeds"]))
                for r in found
            ],
        )

    async def inactive_units(
        self,
        root_org_id: int,
        since: date,
        until: date,
        settled_before: datetime,
        names: int = 20,
    ) -> tuple[int, list[str]]:
        """Organisations in a subtree that had members on the roster since
        `settled_before` (the window's start) and no report in [since, until): how many,
        and the first `names` by code. A week before the roster existed reproaches nobody."""
        rows = await self.db.fetch(
            f"""{SUBTREE},
            u AS (SELECT DISTINCT r.org_id FROM roles r
                  WHERE r.org_id IN (SELECT id FROM sub) AND r.role = 'member'
                    AND r.created_at < :settled)
            SELECT o.name, COUNT(*) OVER () AS n FROM u JOIN organisations o ON o.id = u.org_id
            WHERE NOT EXISTS (SELECT 1 FROM deeds d WHERE d.org_id = u.org_id
                              AND d.local_day >= :since AND d.local_day < :until)
            ORDER BY o.code LIMIT :names""",
            {
                "root": root_org_id,
                "since": since,
                "until": until,
                "settled": settled_before,
                "names": names,
            },
        )
        return (int(rows[0]["n"]) if rows else 0), [r["name"] for r in rows]

    async def named_in(self, root_org_id: int, name: str) -> str | None:
        """The code of the organisation in a subtree called `name`, or whose name begins
        with it (the shortest first): "东坡村" finds 东坡村党支部."""
        pattern = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        code = await self.db.fetchval(
            f"""{SUBTREE}
            SELECT code FROM organisations
            WHERE id IN (SELECT id FROM sub) AND (name = :name OR name LIKE :pattern ESCAPE '\\')
            ORDER BY CASE WHEN name = :name THEN 0 ELSE 1 END, LENGTH(name), code
            LIMIT 1""",
            {"root": root_org_id, "name": name, "pattern": pattern},
        )
        return str(code) if code is not None else None


def _scope(subtree: bool) -> str:
    return SUBTREE if subtree else ONE_ORG
