"""People, their addresses (many per person) and their roles in organisations."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.messages import Address
from storage.engine import Database, Executor, Row, as_datetime
from storage.models import Grant, Role, SenderRecord


@dataclass(frozen=True, slots=True)
class RosterEntry:
    org_id: int
    name: str
    address: Address
    role: Role


@dataclass(frozen=True, slots=True)
class Holder:
    """Who already has an address: their name and every role they hold."""

    person_id: int
    name: str | None
    grants: tuple[tuple[str, str, Role], ...]  # (organisation code, its kind, role)


@dataclass(frozen=True, slots=True)
class Imported:
    """What a roster entry did. `person_id` None: refused, because its address belongs to
    someone with another name (`holder`). With `renamed`, `holder` is the name replaced."""

    person_id: int | None
    holder: str | None = None
    renamed: bool = False


class NameClash(Exception):
    """A roster entry would give an address that belongs to one person another name."""


def same_name(a: str, b: str) -> bool:
    """One name, however it was typed: full-width or half-width, spaces, letter case."""
    return name_key(a) == name_key(b)


def name_key(name: str) -> str:
    """What same_name compares."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


# Who is behind the address (:kind, :value): one row per role held (a row with NULL role
# when none), each with the person and the organisation; no row when the address is new.
# Ordered by grant_order. Also read inside the statement that records a message.
RESOLVE = """
    SELECT a.id AS address_id, a.person_id, a.opted_out_at, p.name, p.language,
           r.role, o.id AS org_id, o.code, o.name AS org_name, o.kind, o.timezone,
           r.id AS grant_order,
           EXISTS (SELECT 1 FROM pending_questions q
                   WHERE q.address_kind = a.kind AND q.address = a.value) AS pending
    FROM addresses a
    LEFT JOIN people p ON p.id = a.person_id
    LEFT JOIN roles r ON r.person_id = a.person_id
    LEFT JOIN organisations o ON o.id = r.org_id
    WHERE a.kind = :kind AND a.value = :value
"""


def sender_record(rows: Sequence[Row]) -> SenderRecord:
    """A SenderRecord from the rows of RESOLVE (in grant order); a row without an address
    (the record statement's, for a new address) is nobody yet."""
    if not rows or rows[0]["address_id"] is None:
        return SenderRecord(None, None, None, None, None)
    first = rows[0]
    grants = tuple(
        Grant(Role(r["role"]), r["org_id"], r["code"], r["org_name"], r["kind"], r["timezone"])
        for r in rows
        if r["role"] is not None
    )
    return SenderRecord(
        address_id=first["address_id"],
        person_id=first["person_id"],
        name=first["name"],
        language=first["language"],
        opted_out_at=as_datetime(first["opted_out_at"]),
        grants=grants,
        has_pending=bool(first["pending"]),
    )


class PeopleRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def resolve(self, address: Address) -> SenderRecord:
        """Who is behind an address, with every role they hold: one query per message
        (none of its own when the message's record read it: InboundRepository.record)."""
        rows = await self.db.fetch(
            RESOLVE + " ORDER BY grant_order", {"kind": address.kind.value, "value": address.value}
        )
        return sender_record(rows)

    async def opt_out(self, address: Address, now: datetime) -> bool:
        """Stop broadcasts to the address. True the first time, False if already stopped."""
        changed = await self.db.write(
            """
            INSERT INTO addresses (kind, value, opted_out_at, created_at)
            VALUES (:kind, :value, :now, :now)
            ON CONFLICT (kind, value) DO UPDATE SET opted_out_at = excluded.opted_out_at
            WHERE addresses.opted_out_at IS NULL
            RETURNING id
            """,
            {"kind": address.kind.value, "value": address.value, "now": now},
        )
        return bool(changed)

    async def mark_invalid(self, address: Address, now: datetime) -> None:
        """The provider says the address does not exist: stop trying it."""
        await self.db.write(
            "UPDATE addresses SET invalid_at = :now WHERE kind = :kind AND value = :value "
            "AND invalid_at IS NULL",
            {"kind": address.kind.value, "value": address.value, "now": now},
        )

    async def opt_in(self, address: Address) -> bool:
        """Resume broadcasts. True if the address had been opted out."""
        changed = await self.db.write(
            """
            UPDATE addresses SET opted_out_at = NULL
            WHERE kind = :kind AND value = :value AND opted_out_at IS NOT NULL
            RETURNING id
            """,
            {"kind": address.kind.value, "value": address.value},
        )
        return bool(changed)

    async def join(
        self, address: Address, org_id: int, role: Role, language: str | None, now: datetime
    ) -> bool:
        """Give the person behind `address` (created if new) a role. True if it is new."""
        async with self.db.transaction() as tx:
            person_id = await _person_for(tx, address, None, language, now)
            return await _grant(tx, person_id, org_id, role, now)

    async def import_roster(
        self, entries: Sequence[RosterEntry], now: datetime, rename: bool = False
    ) -> list[int]:
        """Idempotent roster import in one transaction: people found by address. Returns
        the person of each entry, in order. An entry naming an address's person otherwise
        raises NameClash and nothing is written, unless `rename` says the new name is meant.
        A few statements whatever the number of entries (storage/roster_import.py, which
        the roster files' importer uses batch by batch)."""
        from storage.roster_import import write_batch  # it builds on this module's types

        people = []
        async with self.db.transaction() as tx:
            done = await write_batch(tx, entries, now, rename)
            for entry, outcome in zip(entries, done, strict=True):
                assert outcome is not None  # nothing vetoes here
                if outcome.person_id is None:
                    raise NameClash(
                        f"{entry.address.value} belongs to {outcome.holder}, not {entry.name}"
                    )
                people.append(outcome.person_id)
        return people

    async def link(self, new: Address, known: Address, now: datetime) -> bool:
        """Make `new` (a Telegram chat) an address of the person behind `known` (the phone
        the roster has), creating that person if nobody has the phone yet. A person who
        existed only behind `new` (a villager who joined on Telegram) is merged in: their
        roles and reports move over. False if `new` already belonged to that person."""
        async with self.db.transaction() as tx:
            person = await _person_for(tx, known, None, None, now)
            row = await tx.fetchrow(
                "SELECT id, person_id FROM addresses WHERE kind = :kind AND value = :value",
                {"kind": new.kind.value, "value": new.value},
            )
            if row is None:
                await tx.execute(
                    "INSERT INTO addresses (person_id, kind, value, created_at) "
                    "VALUES (:p, :kind, :value, :now)",
                    {"p": person, "kind": new.kind.value, "value": new.value, "now": now},
                )
                return True
            previous = row["person_id"]
            if previous == person:
                return False
            await tx.execute(
                "UPDATE addresses SET person_id = :p WHERE id = :id", {"p": person, "id": row["id"]}
            )
            if previous is not None:
                await tx.execute(
                    """
                    INSERT INTO roles (person_id, org_id, role, created_at)
                    SELECT :p, org_id, role, created_at FROM roles WHERE person_id = :old
                    ON CONFLICT (person_id, org_id, role) DO NOTHING
                    """,
                    {"p": person, "old": previous},
                )
                await tx.execute("DELETE FROM roles WHERE person_id = :old", {"old": previous})
                await tx.execute(
                    "UPDATE deeds SET person_id = :p WHERE person_id = :old",
                    {"p": person, "old": previous},
                )
                # Took part in a poll as either: once, as the one person (the caller
                # re-keys open polls' sealed answers: handlers/linking.py).
                await tx.execute(
                    """
                    INSERT INTO poll_participants (poll_id, person_id)
                    SELECT poll_id, :p FROM poll_participants WHERE person_id = :old
                    ON CONFLICT DO NOTHING
                    """,
                    {"p": person, "old": previous},
                )
                await tx.execute(
                    "DELETE FROM poll_participants WHERE person_id = :old", {"old": previous}
                )
            return True

    async def move_address(self, kind: str, old: str, new: str) -> None:
        """An address changed at the provider (a Telegram group became a supergroup)."""
        await self.db.write(
            "UPDATE addresses SET value = :new WHERE kind = :kind AND value = :old",
            {"kind": kind, "old": old, "new": new},
        )

    async def set_nudges(self, person_id: int, on: bool) -> None:
        await self.db.write(
            "UPDATE people SET nudges = :on WHERE id = :id", {"on": on, "id": person_id}
        )

    async def set_language(self, person_id: int, language: str) -> None:
        await self.db.write(
            "UPDATE people SET language = :language WHERE id = :id",
            {"language": language, "id": person_id},
        )

    async def choose_language(self, address: Address, language: str, now: datetime) -> None:
        """The language the person behind `address` asked for (someone not known yet is
        created, so a stranger's choice holds when they join)."""
        async with self.db.transaction() as tx:
            person_id = await _person_for(tx, address, None, language, now)
            await tx.execute(
                "UPDATE people SET language = :language WHERE id = :id",
                {"language": language, "id": person_id},
            )

    async def members_of(self, org_id: int, role: Role) -> list[tuple[int, str | None]]:
        rows = await self.db.fetch(
            """
            SELECT p.id, p.name FROM roles r JOIN people p ON p.id = r.person_id
            WHERE r.org_id = :org AND r.role = :role ORDER BY p.id
            """,
            {"org": org_id, "role": role.value},
        )
        return [(r["id"], r["name"]) for r in rows]


async def _person_for(
    tx: Executor, address: Address, name: str | None, language: str | None, now: datetime
) -> int:
    """The person at `address`, created (and the address attached) when there is none;
    `name` names a new person only (renaming is decided by storage/roster_import.py)."""
    row = await tx.fetchrow(
        "SELECT id, person_id FROM addresses WHERE kind = :kind AND value = :value",
        {"kind": address.kind.value, "value": address.value},
    )
    if row is not None and row["person_id"] is not None:
        return row["person_id"]
    person_id = await tx.fetchval(
        "INSERT INTO people (name, language, created_at) VALUES (:name, :language, :now) "
        "RETURNING id",
        {"name": name, "language": language, "now": now},
    )
    if row is None:
        await tx.execute(
            "INSERT INTO addresses (person_id, kind, value, created_at) "
            "VALUES (:person, :kind, :value, :now)",
            {"person": person_id, "kind": address.kind.value, "value": address.value, "now": now},
        )
    else:
        await tx.execute(
            "UPDATE addresses SET person_id = :person WHERE id = :id",
            {"person": person_id, "id": row["id"]},
        )
    return person_id


async def _grant(tx: Executor, person_id: int, org_id: int, role: Role, now: datetime) -> bool:
    created = await tx.fetchval(
        """
        INSERT INTO roles (person_id, org_id, role, created_at)
        VALUES (:person, :org, :role, :now)
        ON CONFLICT (person_id, org_id, role) DO NOTHING
        RETURNING id
        """,
        {"person": person_id, "org": org_id, "role": role.value, "now": now},
    )
    return created is not None
