"""Read models for the console's branch page: each member's figures, the branch's deeds a
page at a time, and its polls. Counted in SQL: a branch of hundreds is not loaded row by
row into Python to be counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from storage.deeds import STREAK_WINDOW_DAYS, streak_and_week
from storage.engine import Database, as_date
from storage.models import Category, DayCount, Role


@dataclass(frozen=True, slots=True)
class MemberFigures:
    person_id: int
    name: str
    role: Role  # SECRETARY or MEMBER
    this_week: int
    total: int
    streak_days: int  # consecutive days with a report, ending today (as the SMS reply counts)


@dataclass(frozen=True, slots=True)
class BranchDeed:
    id: int  # the deed's number, the same as in 推优 and the message to its member
    person_id: int
    name: str
    category: Category | None
    body: str  # "" for a photo sent alone
    local_day: date
    has_photo: bool
    featured: bool  # on the public pages now (storage/featured.py)
    declined: bool  # its member withdrew a featuring once: never featured again


# The Party members of one organisation (a secretary is one too), in roster order.
_MEMBERS = """
    SELECT r.person_id, MIN(r.id) AS first_grant,
           MAX(CASE WHEN r.role = 'secretary' THEN 1 ELSE 0 END) AS is_secretary
    FROM roles r WHERE r.org_id = :org AND r.role IN ('member', 'secretary')
    GROUP BY r.person_id
"""


class BranchActivity:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def members(self, org_id: int, today: date, week_start: date) -> list[MemberFigures]:
        """Each member's reports this week and in all, and their streak, by the rules of the
        SMS reply to a report (storage/deeds.py), in roster order."""
        params = {"org": org_id, "since": min(week_start, today - timedelta(STREAK_WINDOW_DAYS))}
        people = await self.db.fetch(
            f"""
            WITH m AS ({_MEMBERS})
            SELECT m.person_id, m.is_secretary, p.name,
                   (SELECT COUNT(*) FROM deeds d WHERE d.person_id = m.person_id) AS total
            FROM m JOIN people p ON p.id = m.person_id
            ORDER BY m.first_grant
            """,
            params,
        )
        # Reports per member and day in the streak window: at most a row per day each.
        days: dict[int, list[DayCount]] = {}
        for row in await self.db.fetch(
            f"""
            WITH m AS ({_MEMBERS})
            SELECT d.person_id, d.local_day, COUNT(*) AS n
            FROM deeds d JOIN m ON m.person_id = d.person_id
            WHERE d.local_day >= :since
            GROUP BY d.person_id, d.local_day
            """,
            params,
        ):
            day = as_date(row["local_day"])
            assert day is not None
            days.setdefault(row["person_id"], []).append(DayCount(day, int(row["n"])))
        found = []
        for row in people:
            streak, week = streak_and_week(days.get(row["person_id"], []), today, week_start)
            found.append(
                MemberFigures(
                    person_id=row["person_id"],
                    name=row["name"] or "?",
                    role=Role.SECRETARY if row["is_secretary"] else Role.MEMBER,
                    this_week=week,
                    total=int(row["total"]),
                    streak_days=streak,
                )
            )
        return found

    async def deeds(self, org_id: int, *, limit: int, offset: int) -> tuple[list[BranchDeed], int]:
        """The deeds filed in an organisation, newest first, a page at a time; and how many
        there are in all."""
        total = await self.db.fetchval(
            "SELECT COUNT(*) FROM deeds WHERE org_id = :org", {"org": org_id}
        )
        rows = await self.db.fetch(
            """
            SELECT d.id, d.person_id, p.name, d.category, d.body, d.local_day,
                   CASE WHEN d.attachment_url IS NULL THEN 0 ELSE 1 END AS has_photo,
                   EXISTS (SELECT 1 FROM featured_deeds f
                           WHERE f.deed_id = d.id AND f.withdrawn_at IS NULL) AS featured,
                   EXISTS (SELECT 1 FROM featured_deeds f
                           WHERE f.deed_id = d.id AND f.by_member) AS declined
            FROM deeds d JOIN people p ON p.id = d.person_id
            WHERE d.org_id = :org
            ORDER BY d.id DESC
            LIMIT :limit OFFSET :offset
            """,
            {"org": org_id, "limit": limit, "offset": offset},
        )
        found = []
        for r in rows:
            day = as_date(r["local_day"])
            assert day is not None
            found.append(
                BranchDeed(
                    id=r["id"],
                    person_id=r["person_id"],
                    name=r["name"] or "?",
                    category=Category(r["category"]) if r["category"] else None,
                    body=r["body"],
                    local_day=day,
                    has_photo=bool(r["has_photo"]),
                    featured=bool(r["featured"]),
                    declined=bool(r["declined"]),
                )
            )
        return found, int(total or 0)

    async def poll_ids(self, org_id: int, limit: int) -> list[int]:
        """An organisation's polls that were sent (open, closed; scheduled ones to come),
        newest first: drafts and cancelled ones never reached anyone."""
        rows = await self.db.fetch(
            "SELECT id FROM polls WHERE org_id = :org AND status NOT IN ('draft', 'cancelled') "
            "ORDER BY id DESC LIMIT :limit",
            {"org": org_id, "limit": limit},
        )
        return [r["id"] for r in rows]
