"""Recommendations of model members (推荐), counted per member and round.

A round runs from one public notice of the branch to the next (see migration 0010): the
current round is one more than the notices the branch has published, so publishing a notice
starts the next round and people may recommend the same member again for the next one.

Members have no number in the roster, so a branch numbers them in roster order (the order
their role was granted): numbers stay put as members are added, and the secretary's list,
the shortlist and a villager's 推荐 3 all mean the same person by 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.engine import Database, in_list
from storage.models import Role


@dataclass(frozen=True, slots=True)
class BranchMember:
    number: int  # 编号: position in the branch's roster order, from 1
    person_id: int
    name: str
    role: Role  # SECRETARY or MEMBER (a secretary is a Party member too)
    org_id: int
    org_name: str


@dataclass(frozen=True, slots=True)
class Tally:
    person_id: int
    name: str
    count: int


class RecommendationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def members(self, org_ids: Sequence[int]) -> list[BranchMember]:
        """The Party members (and secretaries) of these organisations, numbered per
        organisation in roster order."""
        if not org_ids:
            return []
        orgs, params = in_list("org", org_ids)
        rows = await self.db.fetch(
            f"""
            SELECT r.org_id, o.name AS org_name, p.id AS person_id, p.name,
                   MIN(r.id) AS first_grant,
                   MAX(CASE WHEN r.role = 'secretary' THEN 1 ELSE 0 END) AS is_secretary
            FROM roles r
            JOIN people p ON p.id = r.person_id
            JOIN organisations o ON o.id = r.org_id
            WHERE r.org_id IN ({orgs}) AND r.role IN ('member', 'secretary')
            GROUP BY r.org_id, o.name, p.id, p.name
            ORDER BY r.org_id, first_grant
            """,
            params,
        )
        found: list[BranchMember] = []
        numbers: dict[int, int] = {}
        for row in rows:
            number = numbers[row["org_id"]] = numbers.get(row["org_id"], 0) + 1
            found.append(
                BranchMember(
                    number=number,
                    person_id=row["person_id"],
                    name=row["name"] or "?",
                    role=Role.SECRETARY if row["is_secretary"] else Role.MEMBER,
                    org_id=row["org_id"],
                    org_name=row["org_name"],
                )
            )
        return found

    async def current_round(self, org_id: int) -> int:
        published = await self.db.fetchval(
            "SELECT COUNT(*) AS n FROM public_notices WHERE org_id = :org", {"org": org_id}
        )
        return int(published or 0) + 1

    async def add(
        self,
        *,
        org_id: int,
        round_no: int,
        nominee_id: int,
        recommender_id: int,
        reason: str,
        now: datetime,
    ) -> bool:
        """Store a recommendation. False if this person already recommended this member
        in this round (nothing is changed)."""
        rows = await self.db.write(
            """
            INSERT INTO recommendations (org_id, round, nominee_id, recommender_id, reason,
                                         created_at)
            VALUES (:org, :round, :nominee, :recommender, :reason, :now)
            ON CONFLICT (org_id, round, nominee_id, recommender_id) DO NOTHING
            RETURNING id
            """,
            {
                "org": org_id,
                "round": round_no,
                "nominee": nominee_id,
                "recommender": recommender_id,
                "reason": reason,
                "now": now,
            },
        )
        return bool(rows)

    async def tally(self, org_id: int, round_no: int) -> list[Tally]:
        """Recommendations of the round per member, most first."""
        rows = await self.db.fetch(
            """
            SELECT r.nominee_id, p.name, COUNT(*) AS n
            FROM recommendations r JOIN people p ON p.id = r.nominee_id
            WHERE r.org_id = :org AND r.round = :round
            GROUP BY r.nominee_id, p.name
            ORDER BY n DESC, r.nominee_id
            """,
            {"org": org_id, "round": round_no},
        )
        return [Tally(r["nominee_id"], r["name"] or "?", int(r["n"])) for r in rows]

    async def reasons(self, org_id: int, round_no: int, nominee_id: int) -> list[str]:
        """What people wrote recommending one member this round, oldest first (never who)."""
        rows = await self.db.fetch(
            """
            SELECT reason FROM recommendations
            WHERE org_id = :org AND round = :round AND nominee_id = :nominee
            ORDER BY id
            """,
            {"org": org_id, "round": round_no, "nominee": nominee_id},
        )
        return [r["reason"] for r in rows]
