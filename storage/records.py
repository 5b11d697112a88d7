"""What the records workbook for commendation reads (bot/records.py writes it): a subtree's
campaign for a period. Every query takes the period's parameters from Period.bounds (:start
and :end as days, :since and :until as instants) and :root, the subtree's top.

Nothing here reads a ballot, an objector, an objection's text or a villager's comment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from storage.engine import Executor, Row
from storage.orgs import SUBTREE

PAGE = 2000  # deeds per query: a county's year of deeds is never held at once

# Commitments of the period: published ones (a scheduled one is not yet made), made in the
# period or due in it.
_COMMITMENTS_WHERE = """
    c.published_at IS NOT NULL
    AND ((c.created_at >= :since AND c.created_at < :until)
         OR (c.due_on BETWEEN :start AND :end))
"""
# Each figure of the summary sheet: one GROUP BY query, per organisation of the subtree.
_SUMMARY = {
    "members": "SELECT r.org_id, COUNT(DISTINCT r.person_id) AS n FROM roles r "
    "JOIN sub ON sub.id = r.org_id WHERE r.role IN ('member', 'secretary') GROUP BY r.org_id",
    "deeds": "SELECT d.org_id, COUNT(*) AS n FROM deeds d JOIN sub ON sub.id = d.org_id "
    "WHERE d.local_day BETWEEN :start AND :end GROUP BY d.org_id",
    "reporters": "SELECT d.org_id, COUNT(DISTINCT d.person_id) AS n FROM deeds d "
    "JOIN sub ON sub.id = d.org_id WHERE d.local_day BETWEEN :start AND :end GROUP BY d.org_id",
    "made": "SELECT c.org_id, COUNT(*) AS n FROM commitments c JOIN sub ON sub.id = c.org_id "
    f"WHERE {_COMMITMENTS_WHERE} GROUP BY c.org_id",
    "done": "SELECT c.org_id, COUNT(*) AS n FROM commitments c JOIN sub ON sub.id = c.org_id "
    f"WHERE {_COMMITMENTS_WHERE} AND c.status = 'done' GROUP BY c.org_id",
    "polls": "SELECT p.org_id, COUNT(*) AS n FROM polls p JOIN sub ON sub.id = p.org_id "
    "WHERE p.status = 'closed' AND p.closes_at >= :since AND p.closes_at < :until "
    "GROUP BY p.org_id",
    "notices": "SELECT n.org_id, COUNT(*) AS n FROM public_notices n "
    "JOIN sub ON sub.id = n.org_id "
    "WHERE n.published_at >= :since AND n.published_at < :until GROUP BY n.org_id",
}
SUMMARY_FIGURES = tuple(_SUMMARY)


class RecordQueries:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def names(self, root: int) -> dict[int, tuple[str, str]]:
        """Each organisation of the subtree: its code and name."""
        rows = await self.db.fetch(
            SUBTREE + "SELECT o.id, o.code, o.name FROM organisations o JOIN sub ON sub.id = o.id",
            {"root": root},
        )
        return {r["id"]: (r["code"], r["name"]) for r in rows}

    async def summary(self, params: dict[str, Any]) -> dict[str, dict[int, int]]:
        """Per figure of SUMMARY_FIGURES, its count per organisation (absent: none)."""
        found = {}
        for figure, sql in _SUMMARY.items():
            rows = await self.db.fetch(SUBTREE + sql, params)
            found[figure] = {r["org_id"]: r["n"] for r in rows}
        return found

    async def deeds(self, params: dict[str, Any]) -> AsyncIterator[Row]:
        """The period's deeds in the order they came, read a page at a time."""
        sql = (
            SUBTREE
            + """
            SELECT d.id, d.local_day, p.name, d.org_id, d.category, d.body
            FROM deeds d JOIN sub ON sub.id = d.org_id JOIN people p ON p.id = d.person_id
            WHERE d.local_day BETWEEN :start AND :end AND d.id > :after
            ORDER BY d.id LIMIT :limit
            """
        )
        after = 0
        while True:
            rows = await self.db.fetch(sql, {**params, "after": after, "limit": PAGE})
            for row in rows:
                yield row
            if len(rows) < PAGE:
                return
            after = rows[-1]["id"]

    async def commitments(self, params: dict[str, Any]) -> list[Row]:
        return await self.db.fetch(
            SUBTREE
            + f"""
            SELECT c.id, c.org_id, p.name, c.body, c.created_at, c.due_on, c.status, c.done_at
            FROM commitments c JOIN sub ON sub.id = c.org_id
            LEFT JOIN people p ON p.id = c.person_id
            WHERE {_COMMITMENTS_WHERE}
            ORDER BY c.id
            """,
            params,
        )

    async def closed_polls(self, params: dict[str, Any]) -> list[int]:
        """The polls of the subtree that closed in the period, in the order they closed."""
        rows = await self.db.fetch(
            SUBTREE
            + """
            SELECT p.id FROM polls p JOIN sub ON sub.id = p.org_id
            WHERE p.status = 'closed' AND p.closes_at >= :since AND p.closes_at < :until
            ORDER BY p.closes_at, p.id
            """,
            params,
        )
        return [r["id"] for r in rows]

    async def notices(self, params: dict[str, Any]) -> list[Row]:
        """Each notice's candidates and outcomes, and how many objections it received
        (never who objected, nor what they wrote)."""
        return await self.db.fetch(
            SUBTREE
            + """
            SELECT n.id, n.org_id, n.published_at, n.last_day, p.name, c.place, c.outcome,
                   c.reason,
                   (SELECT COUNT(*) FROM objections x WHERE x.notice_id = n.id) AS objections
            FROM public_notices n JOIN sub ON sub.id = n.org_id
            JOIN notice_candidates c ON c.org_id = n.org_id AND c.round = n.round
            JOIN people p ON p.id = c.person_id
            WHERE n.published_at >= :since AND n.published_at < :until
            ORDER BY n.published_at, n.id, c.place
            """,
            params,
        )

    async def commentary(self, params: dict[str, Any]) -> list[Row]:
        """Leaders' commentary and briefings of the period, oldest first."""
        return await self.db.fetch(
            SUBTREE
            + """
            SELECT * FROM (
            SELECT 'commentary' AS kind, c.id, c.created_at, c.org_id, p.name, c.body
            FROM commentary c JOIN sub ON sub.id = c.org_id
            LEFT JOIN people p ON p.id = c.author_id
            WHERE c.created_at >= :since AND c.created_at < :until
            UNION ALL
            SELECT 'briefing' AS kind, b.id, b.created_at, b.org_id, p.name, b.body
            FROM briefings b JOIN sub ON sub.id = b.org_id
            LEFT JOIN people p ON p.id = b.author_id
            WHERE b.created_at >= :since AND b.created_at < :until
            ) AS said
            ORDER BY created_at, kind, id
            """,
            params,
        )
