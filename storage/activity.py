"""The campaign's activity by organisation: members, who reported week by week, the latest
report, and public commitments. Read by the public pages and the organisers' console.

Everything is counted in the database (GROUP BY), a handful of queries per subtree whatever
its size: a county has 200 branches, 6,000 members and 200,000 deeds, and no deed is loaded
to be counted. Weeks are the campaign's local weeks (bot.clock.week_start).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import week_start as monday_of
from storage.engine import Database, as_date, in_list
from storage.orgs import SUBTREE

_MEMBER_ROLES = "('member', 'secretary')"
# What `categories` calls a deed reported without one of the five (五带头) categories.
UNCATEGORISED = "other"


@dataclass(frozen=True, slots=True)
class OrgActivity:
    org_id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    theme: str | None
    members: int  # Party members holding member or secretary roles there
    weekly: tuple[int, ...]  # members who reported at least once, per week, oldest first
    deeds_this_week: int
    last_report: date | None  # local day of the latest deed there
    commitments_open: int  # published, not done (overdue ones included)
    commitments_done: int
    commitments_overdue: int  # open, due before today

    @property
    def reported_this_week(self) -> int:
        return self.weekly[-1] if self.weekly else 0

    @property
    def share(self) -> float:
        """Of the members, the share who reported this week (0 with no members)."""
        return self.reported_this_week / self.members if self.members else 0.0

    @property
    def commitments_made(self) -> int:
        return self.commitments_open + self.commitments_done


def local_week(now: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """Today in the campaign's time zone, and the Monday its week began."""
    today = now.astimezone(zone).date()
    return today, monday_of(today)


def week_starts(week_start: date, weeks: int) -> list[date]:
    """The Mondays of the last `weeks` weeks, oldest first, ending with `week_start`."""
    return [week_start - timedelta(weeks=weeks - 1 - k) for k in range(weeks)]


def rolled_up(entries: list[OrgActivity]) -> dict[int, OrgActivity]:
    """Each organisation's figures summed over its subtree (itself and everything below
    it in `entries`). Reporters per week add up: a member reports in their own branch, so
    two branches never count the same report."""
    children: dict[int | None, list[OrgActivity]] = {}
    for entry in entries:
        children.setdefault(entry.parent_id, []).append(entry)
    totals: dict[int, OrgActivity] = {}

    def total(entry: OrgActivity) -> OrgActivity:
        # Recursion is fine: trees are shallow (county, township, branch, cell).
        summed = entry
        for child in children.get(entry.org_id, []):
            below = total(child)
            summed = replace(
                summed,
                members=summed.members + below.members,
                weekly=tuple(a + b for a, b in zip(summed.weekly, below.weekly, strict=True)),
                deeds_this_week=summed.deeds_this_week + below.deeds_this_week,
                last_report=_latest(summed.last_report, below.last_report),
                commitments_open=summed.commitments_open + below.commitments_open,
                commitments_done=summed.commitments_done + below.commitments_done,
                commitments_overdue=summed.commitments_overdue + below.commitments_overdue,
            )
        totals[entry.org_id] = summed
        return summed

    known = {entry.org_id for entry in entries}
    for entry in entries:
        if entry.parent_id not in known:  # a root of the forest given
            total(entry)
    return totals


def _latest(a: date | None, b: date | None) -> date | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


class ActivityRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def subtree(
        self,
        root_id: int,
        *,
        weeks: int,
        week_start: date,
        today: date,
        published_only: bool = True,
    ) -> list[OrgActivity]:
        """One entry per organisation in the subtree of `root_id`, root included, in code
        order, each with its OWN figures (rolled_up sums them). `weeks` weeks ending with
        the one beginning `week_start`. `published_only`: count only the commitments the
        public has been shown (the console may count those still held too)."""
        mondays = week_starts(week_start, weeks)
        root = {"root": root_id}
        orgs = await self.db.fetch(
            f"""{SUBTREE}
            SELECT o.id, o.code, o.name, o.kind, o.parent_id, o.theme,
                   (SELECT MAX(d.local_day) FROM deeds d WHERE d.org_id = o.id) AS last_report
            FROM organisations o WHERE o.id IN (SELECT id FROM sub)
            ORDER BY o.code""",
            root,
        )
        members = await self.db.fetch(
            f"""{SUBTREE}
            SELECT org_id, COUNT(DISTINCT person_id) AS n FROM roles
            WHERE org_id IN (SELECT id FROM sub) AND role IN {_MEMBER_ROLES}
            GROUP BY org_id""",
            root,
        )
        # The week of a deed as an index 0..weeks-1, portable to both databases.
        if weeks < 1:
            raise ValueError("weeks must be at least 1")
        bucket = " ".join(f"WHEN d.local_day >= :w{k} THEN {k}" for k in range(weeks - 1, 0, -1))
        week_of = f"CASE {bucket} ELSE 0 END" if weeks > 1 else "0"
        week_params: dict[str, Any] = {f"w{k}": monday for k, monday in enumerate(mondays)}
        reported = await self.db.fetch(
            f"""{SUBTREE}
            SELECT d.org_id, {week_of} AS week,
                   COUNT(DISTINCT CASE WHEN EXISTS (
                       SELECT 1 FROM roles r WHERE r.person_id = d.person_id
                         AND r.org_id = d.org_id AND r.role IN {_MEMBER_ROLES})
                       THEN d.person_id END) AS reporters,
                   COUNT(*) AS deeds
            FROM deeds d
            WHERE d.org_id IN (SELECT id FROM sub)
              AND d.local_day >= :w0 AND d.local_day < :until
            GROUP BY d.org_id, week""",
            {**root, **week_params, "until": week_start + timedelta(weeks=1)},
        )
        published = "AND published_at IS NOT NULL" if published_only else ""
        commitments = await self.db.fetch(
            f"""{SUBTREE}
            SELECT org_id,
                   SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open,
                   SUM(CASE WHEN status = 'done' THEN 1 ELSE 0 END) AS done,
                   SUM(CASE WHEN status = 'open' AND due_on < :today THEN 1 ELSE 0 END)
                       AS overdue
            FROM commitments WHERE org_id IN (SELECT id FROM sub) {published}
            GROUP BY org_id""",
            {**root, "today": today},
        )
        member_count = {int(r["org_id"]): int(r["n"]) for r in members}
        weekly: dict[int, list[int]] = {}
        this_week: dict[int, int] = {}
        for row in reported:
            org, week = int(row["org_id"]), int(row["week"])
            weekly.setdefault(org, [0] * weeks)[week] = int(row["reporters"])
            if week == weeks - 1:
                this_week[org] = int(row["deeds"])
        promised = {int(r["org_id"]): r for r in commitments}
        entries = []
        for found in orgs:
            org_id = int(found["id"])
            made = promised.get(org_id)
            entries.append(
                OrgActivity(
                    org_id=org_id,
                    code=found["code"],
                    name=found["name"],
                    kind=found["kind"],
                    parent_id=int(found["parent_id"]) if found["parent_id"] is not None else None,
                    theme=found["theme"],
                    members=member_count.get(org_id, 0),
                    weekly=tuple(weekly.get(org_id, [0] * weeks)),
                    deeds_this_week=this_week.get(org_id, 0),
                    last_report=as_date(found["last_report"]),
                    commitments_open=int(made["open"] or 0) if made else 0,
                    commitments_done=int(made["done"] or 0) if made else 0,
                    commitments_overdue=int(made["overdue"] or 0) if made else 0,
                )
            )
        return entries

    async def categories(self, org_ids: list[int], since: date) -> dict[str, int]:
        """How many deeds of each 五带头 category were reported in these organisations since
        `since` (a local day); deeds without a category under UNCATEGORISED."""
        if not org_ids:
            return {}
        placeholders, params = in_list("org", org_ids)
        rows = await self.db.fetch(
            f"""SELECT category, COUNT(*) AS n FROM deeds
            WHERE org_id IN ({placeholders}) AND local_day >= :since
            GROUP BY category""",
            {**params, "since": since},
        )
        return {(r["category"] or UNCATEGORISED): int(r["n"]) for r in rows}

    async def roots(self) -> list[int]:
        """The organisations at the top of the tree (a county, usually one), by code."""
        rows = await self.db.fetch(
            "SELECT id FROM organisations WHERE parent_id IS NULL ORDER BY code"
        )
        return [int(r["id"]) for r in rows]
