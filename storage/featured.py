"""Featured deeds (典型): members' reported deeds that a secretary or leader put on the
public pages, and their history.

A featuring is a row, never deleted: featured (by whom, when, for which organisation), then
perhaps withdrawn (by whom, when, and whether by the member). The public pages read only the
current ones (`featured`, `count`); a deed is current at most once (a partial unique index).
The rules (who may feature what, what may be shown) are in handlers/featured.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.messages import Address, AddressKind
from storage.engine import Database, Row, as_date, as_datetime, in_list
from storage.models import Category
from storage.orgs import ONE_ORG, SUBTREE
from storage.reports import PREFERRED_ADDRESS


@dataclass(frozen=True, slots=True)
class DeedView:
    """A deed as the one who features it sees it."""

    id: int
    person_id: int
    name: str | None  # the member's name on the roster
    org_id: int  # the organisation the deed was filed in
    org_code: str
    org_name: str
    category: Category | None
    body: str  # "" for a photo sent alone
    local_day: date
    has_photo: bool
    featured: bool  # on the public pages now
    declined: bool  # its member withdrew a featuring of it: not to be featured again


@dataclass(frozen=True, slots=True)
class FeaturedDeed:
    """What a public page may show of a featured deed: no phone, no address, no photo."""

    deed_id: int
    name: str | None
    org_code: str
    org_name: str
    category: Category | None
    body: str
    local_day: date
    featured_at: datetime


@dataclass(frozen=True, slots=True)
class Featuring:
    """One featuring of a deed, for the console's history."""

    id: int
    deed_id: int
    org_id: int
    featured_by: str | None  # names on the roster
    featured_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None
    by_member: bool


@dataclass(frozen=True, slots=True)
class Reachable:
    """A member with the address to tell them by (Telegram before SMS, not opted out)."""

    person_id: int
    language: str | None
    address: Address


_STATE = """
    EXISTS (SELECT 1 FROM featured_deeds f
            WHERE f.deed_id = d.id AND f.withdrawn_at IS NULL) AS featured,
    EXISTS (SELECT 1 FROM featured_deeds f WHERE f.deed_id = d.id AND f.by_member) AS declined
"""
_DEED = f"""
    SELECT d.id, d.person_id, p.name, d.org_id, o.code AS org_code, o.name AS org_name,
           d.category, d.body, d.local_day, d.attachment_url, {_STATE}
    FROM deeds d
    JOIN people p ON p.id = d.person_id
    JOIN organisations o ON o.id = d.org_id
"""


def _category(value: object) -> Category | None:
    return Category(str(value)) if value else None


def _day(value: object) -> date:
    day = as_date(value)
    assert day is not None  # NOT NULL columns
    return day


def _stamp(value: object) -> datetime:
    stamp = as_datetime(value)
    assert stamp is not None
    return stamp


def _deed(row: Row) -> DeedView:
    return DeedView(
        id=row["id"],
        person_id=row["person_id"],
        name=row["name"],
        org_id=row["org_id"],
        org_code=row["org_code"],
        org_name=row["org_name"],
        category=_category(row["category"]),
        body=row["body"],
        local_day=_day(row["local_day"]),
        has_photo=row["attachment_url"] is not None,
        featured=bool(row["featured"]),
        declined=bool(row["declined"]),
    )


class FeaturedRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- what the one who features sees ----------------------------------------------

    async def deed(self, deed_id: int) -> DeedView | None:
        row = await self.db.fetchrow(f"{_DEED} WHERE d.id = :id", {"id": deed_id})
        return _deed(row) if row is not None else None

    async def recent(
        self,
        root_org_id: int,
        *,
        subtree: bool,
        since: date,
        limit: int,
        exclude_person: int | None = None,
    ) -> list[DeedView]:
        """Deeds with words filed in an organisation (and below it, if `subtree`) since a
        day, newest first, leaving out those their member declined and `exclude_person`'s."""
        rows = await self.db.fetch(
            f"""{SUBTREE if subtree else ONE_ORG}
            {_DEED}
            WHERE d.org_id IN (SELECT id FROM sub) AND d.local_day >= :since
              AND d.body <> '' AND d.person_id <> :exclude
              AND NOT EXISTS (SELECT 1 FROM featured_deeds f
                              WHERE f.deed_id = d.id AND f.by_member)
            ORDER BY d.local_day DESC, d.id DESC
            LIMIT :limit""",
            {
                "root": root_org_id,
                "since": since,
                "limit": limit,
                "exclude": exclude_person if exclude_person is not None else -1,
            },
        )
        return [_deed(r) for r in rows]

    async def names_a_villager(self, org_id: int, body: str) -> bool:
        """Does `body` hold the full name (two characters or more) of someone who is only
        of the public in that organisation? Public pages never name villagers."""
        found = await self.db.fetchval(
            """
            SELECT 1 FROM roles r JOIN people p ON p.id = r.person_id
            WHERE r.org_id = :org AND r.role = 'public' AND LENGTH(p.name) >= 2
              AND CAST(:body AS TEXT) LIKE '%' || p.name || '%'
              AND NOT EXISTS (SELECT 1 FROM roles m WHERE m.person_id = p.id
                              AND m.role IN ('member', 'secretary', 'leader'))
            LIMIT 1
            """,
            {"org": org_id, "body": body},
        )
        return found is not None

    # --- featuring and withdrawing -----------------------------------------------------

    async def feature(
        self, *, deed_id: int, org_id: int, by: int | None, now: datetime
    ) -> int | None:
        """Feature a deed for `org_id`'s public pages; the featuring's id. None if it is
        featured already or its member once withdrew it (checked in the same statement)."""
        rows = await self.db.write(
            """
            INSERT INTO featured_deeds (deed_id, org_id, featured_by, featured_at)
            SELECT :deed, :org, :by, :now
            WHERE NOT EXISTS (SELECT 1 FROM featured_deeds
                              WHERE deed_id = :deed AND by_member)
            ON CONFLICT (deed_id) WHERE withdrawn_at IS NULL DO NOTHING
            RETURNING id
            """,
            {"deed": deed_id, "org": org_id, "by": by, "now": now},
        )
        return int(rows[0]["id"]) if rows else None

    async def withdraw(
        self, *, deed_id: int, by: int | None, by_member: bool, now: datetime
    ) -> bool:
        """Take a deed off the public pages, keeping the record. False if it was not on."""
        rows = await self.db.write(
            """
            UPDATE featured_deeds
            SET withdrawn_at = :now, withdrawn_by = :by, by_member = :member
            WHERE deed_id = :deed AND withdrawn_at IS NULL
            RETURNING id
            """,
            {"deed": deed_id, "by": by, "member": by_member, "now": now},
        )
        return bool(rows)

    async def latest_of(self, person_id: int) -> int | None:
        """The member's deed featured most recently and still on show, if any."""
        value = await self.db.fetchval(
            """
            SELECT f.deed_id FROM featured_deeds f JOIN deeds d ON d.id = f.deed_id
            WHERE d.person_id = :person AND f.withdrawn_at IS NULL
            ORDER BY f.featured_at DESC, f.id DESC LIMIT 1
            """,
            {"person": person_id},
        )
        return int(value) if value is not None else None

    async def reachable(self, person_id: int) -> Reachable | None:
        """The member's preferred usable address and language, to tell them."""
        row = await self.db.fetchrow(
            f"""
            SELECT p.id, p.language, pa.kind, pa.value
            FROM people p JOIN ({PREFERRED_ADDRESS}) pa ON pa.person_id = p.id
            WHERE p.id = :person
            """,
            {"person": person_id},
        )
        if row is None:
            return None
        return Reachable(
            row["id"], row["language"], Address(AddressKind(row["kind"]), row["value"])
        )

    async def history(self, deed_id: int) -> list[Featuring]:
        """Every featuring of a deed, oldest first."""
        rows = await self.db.fetch(
            """
            SELECT f.id, f.deed_id, f.org_id, fb.name AS featured_by, f.featured_at,
                   wb.name AS withdrawn_by, f.withdrawn_at, f.by_member
            FROM featured_deeds f
            LEFT JOIN people fb ON fb.id = f.featured_by
            LEFT JOIN people wb ON wb.id = f.withdrawn_by
            WHERE f.deed_id = :deed ORDER BY f.featured_at, f.id
            """,
            {"deed": deed_id},
        )
        return [
            Featuring(
                id=r["id"],
                deed_id=r["deed_id"],
                org_id=r["org_id"],
                featured_by=r["featured_by"],
                featured_at=_stamp(r["featured_at"]),
                withdrawn_by=r["withdrawn_by"],
                withdrawn_at=as_datetime(r["withdrawn_at"]),
                by_member=bool(r["by_member"]),
            )
            for r in rows
        ]

    # --- what the public pages show ----------------------------------------------------

    async def featured(
        self, org_ids: Sequence[int], limit: int = 20, offset: int = 0
    ) -> list[FeaturedDeed]:
        """Deeds on show for these organisations (a page passes its subtree's ids), newest
        featuring first. Only what a public page may show."""
        if not org_ids:
            return []
        orgs, params = in_list("org", org_ids)
        rows = await self.db.fetch(
            f"""
            SELECT f.deed_id, p.name, o.code AS org_code, o.name AS org_name, d.category,
                   d.body, d.local_day, f.featured_at
            FROM featured_deeds f
            JOIN deeds d ON d.id = f.deed_id
            JOIN people p ON p.id = d.person_id
            JOIN organisations o ON o.id = f.org_id
            WHERE f.withdrawn_at IS NULL AND f.org_id IN ({orgs})
            ORDER BY f.featured_at DESC, f.id DESC
            LIMIT :limit OFFSET :offset
            """,
            {**params, "limit": limit, "offset": offset},
        )
        return [
            FeaturedDeed(
                deed_id=r["deed_id"],
                name=r["name"],
                org_code=r["org_code"],
                org_name=r["org_name"],
                category=_category(r["category"]),
                body=r["body"],
                local_day=_day(r["local_day"]),
                featured_at=_stamp(r["featured_at"]),
            )
            for r in rows
        ]

    async def count(self, org_ids: Sequence[int]) -> int:
        """How many deeds are on show for these organisations."""
        if not org_ids:
            return 0
        orgs, params = in_list("org", org_ids)
        value = await self.db.fetchval(
            "SELECT COUNT(*) FROM featured_deeds "
            f"WHERE withdrawn_at IS NULL AND org_id IN ({orgs})",
            params,
        )
        return int(value or 0)
