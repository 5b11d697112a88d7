"""Deed reports: what members did, by 五带头 category, per local day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from storage.engine import Database
from storage.models import Category, CategoryCount, DayCount, DeedStats

# A streak longer than this is shown as this; it bounds the rows read per report.
STREAK_WINDOW_DAYS = 400


def streak_and_week(days: list[DayCount], today: date, week_start: date) -> tuple[int, int]:
    """Consecutive days with a report ending today, and reports since week_start."""
    week = sum(d.count for d in days if d.day >= week_start)
    streak, expected = 0, today
    for d in sorted(days, key=lambda d: d.day, reverse=True):
        if d.day > today:
            continue
        if d.day != expected:
            break
        streak += 1
        expected -= timedelta(days=1)
    return streak, week


class DeedRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        person_id: int,
        org_id: int,
        inbound_id: int | None,
        category: Category | None,
        body: str,
        local_day: date,
        week_start: date,
        now: datetime,
        commitment_id: int | None = None,
        attachment_url: str | None = None,
    ) -> DeedStats:
        """Store a deed (once per inbound message) and return the member's figures.
        `commitment_id`: the public commitment (公开承诺) it advances, if any;
        `attachment_url`: a photo sent with it."""
        await self.db.write(
            """
            INSERT INTO deeds (person_id, org_id, inbound_id, category, body, local_day,
                               created_at, commitment_id, attachment_url)
            VALUES (:person, :org, :inbound, :category, :body, :day, :now, :commitment,
                    :attachment)
            ON CONFLICT (inbound_id) DO NOTHING
            """,
            {
                "commitment": commitment_id,
                "attachment": attachment_url,
                "person": person_id,
                "org": org_id,
                "inbound": inbound_id,
                "category": category.value if category else None,
                "body": body,
                "day": local_day,
                "now": now,
            },
        )
        return await self._stats(person_id, local_day, week_start)

    async def _stats(self, person_id: int, local_day: date, week_start: date) -> DeedStats:
        # Per-day counts in the window, and one row (day NULL) with the all-time total.
        rows = await self.db.fetch(
            """
            SELECT local_day, COUNT(*) AS n FROM deeds
            WHERE person_id = :person AND local_day >= :since
            GROUP BY local_day
            UNION ALL
            SELECT NULL, COUNT(*) FROM deeds WHERE person_id = :person
            """,
            {
                "person": person_id,
                "since": min(week_start, local_day - timedelta(days=STREAK_WINDOW_DAYS)),
            },
        )
        total = next(r["n"] for r in rows if r["local_day"] is None)
        days = [
            DayCount(date.fromisoformat(str(r["local_day"])), r["n"])
            for r in rows
            if r["local_day"] is not None
        ]
        streak, week = streak_and_week(days, local_day, week_start)
        return DeedStats(this_week=week, streak_days=streak, total=total)

    async def texts_on(self, person_id: int, local_day: date) -> list[str]:
        """The bodies of the member's reports of one day that came without a photo (a
        report sent again is recognised among these)."""
        rows = await self.db.fetch(
            "SELECT body FROM deeds WHERE person_id = :person AND local_day = :day "
            "AND attachment_url IS NULL",
            {"person": person_id, "day": local_day},
        )
        return [r["body"] for r in rows]

    async def describe_photo(
        self, *, person_id: int, inbound_id: int, body: str, category: Category | None
    ) -> bool:
        """Give the photo deed of message `inbound_id` its words; True if it had none yet."""
        rows = await self.db.write(
            "UPDATE deeds SET body = :body, category = :category "
            "WHERE inbound_id = :inbound AND person_id = :person AND body = '' "
            "RETURNING id",
            {
                "body": body,
                "category": category.value if category else None,
                "inbound": inbound_id,
                "person": person_id,
            },
        )
        return bool(rows)

    async def by_category(self, person_id: int, week_start: date) -> list[CategoryCount]:
        rows = await self.db.fetch(
            """
            SELECT category, COUNT(*) AS total,
                   SUM(CASE WHEN local_day >= :week THEN 1 ELSE 0 END) AS week
            FROM deeds WHERE person_id = :person GROUP BY category
            """,
            {"person": person_id, "week": week_start},
        )
        return [
            CategoryCount(
                Category(r["category"]) if r["category"] else None, int(r["week"]), int(r["total"])
            )
            for r in rows
        ]

    async def for_person(self, person_id: int, limit: int = 20) -> list[dict[str, object]]:
        return [
            dict(r)
            for r in await self.db.fetch(
                "SELECT id, category, body, local_day, inbound_id, commitment_id, attachment_url "
                "FROM deeds "
                "WHERE person_id = :person ORDER BY id DESC LIMIT :limit",
                {"person": person_id, "limit": limit},
            )
        ]
