"""Roster entries written in batches: a province's roster (millions of rows) in minutes.

One transaction per batch, a fixed number of statements whatever its size: one read of the
addresses the batch names, then one bulk write per table: new people and their addresses
by executemany on SQLite and COPY on PostgreSQL, every role by executemany on SQLite and
one INSERT ... SELECT FROM unnest(arrays) on PostgreSQL (a role held already is skipped,
which COPY cannot do; no scratch table, so no catalog churn per batch), and the few updates
(names, addresses that had nobody). The decisions are made in Python between the read and
the writes, row by row, exactly as one row at a time would make them: a stored name is
the roster's own earlier word, and a different one is refused unless `rename`. Organisations
(upsert_orgs) and `--replace` (revoke_unlisted) are batched likewise.

Ids of new people are taken before they are written (the sequence on PostgreSQL; on SQLite
the next rowids, under the write lock the batch holds), so addresses and roles can point at
them without reading anything back. On PostgreSQL, a person created meanwhile at one of the
batch's addresses (a villager texting in during the import) makes the batch fail on the
address's unique key; it is rolled back and run again, and then sees that person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import Address, AddressKind
from storage.engine import Database, Executor, in_list
from storage.models import Role
from storage.people import Holder, Imported, RosterEntry, same_name

LOOKUP_SLICE = 1000  # addresses per read on SQLite (bound parameters stay well under its limit)
REVOKE_BATCH = 2_000  # roles taken per transaction (the write lock held briefly)
ATTEMPTS = 3  # a batch that raced another writer for an address is run again


# Whether an entry may go ahead, given its position in the batch and who holds its address
# as the batch found it (None: nobody). The caller's own checks (scope, notes), made inside
# the batch's transaction on what the batch read.
Vet = Callable[[int, RosterEntry, Holder | None], bool]
Listed = Mapping[tuple[int, Role], set[int]]  # who a roster lists in each (org, role)


@dataclass(slots=True)
class _Stored:
    """An address as the batch found it, then as the batch leaves it."""

    address_id: int | None  # None: the address is new
    person_id: int | None  # None: nobody yet (a stranger who opted out) or new
    name: str | None
    grants: tuple[tuple[str, str, Role], ...] = ()  # (organisation code, its kind, role)

    def holder(self) -> Holder | None:
        if self.person_id is None:
            return None
        return Holder(self.person_id, self.name, self.grants)


async def import_batch(
    db: Database,
    entries: Sequence[RosterEntry],
    now: datetime,
    rename: bool,
    vet: Vet | None = None,
) -> list[Imported | None]:
    """Import the entries in one transaction; what each did, in order (None: `vet` said
    no). A row naming an address's person otherwise is refused (person_id None) unless
    `rename`."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with db.transaction() as tx:
                return await write_batch(tx, entries, now, rename, vet)
        except Exception as exc:
            if attempt == ATTEMPTS or getattr(exc, "sqlstate", None) != "23505":
                raise
    raise AssertionError("unreachable")


async def write_batch(
    tx: Executor,
    entries: Sequence[RosterEntry],
    now: datetime,
    rename: bool,
    vet: Vet | None = None,
) -> list[Imported | None]:
    """The batch inside an open transaction (import_roster raises in it to undo it all)."""
    if not entries:
        return []
    # One timestamp for every row, in the form the engine would give each (SQLite: text).
    stamp = tx.stored(now)
    if tx.dialect == "postgresql":
        # The tables grow by the batch faster than autovacuum analyzes them: a prepared
        # lookup's generic plan, made while they were small, scans them whole (import time
        # grew with the square of the roster). Planned for each batch's own values instead.
        await tx.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    stored = await _lookup(tx, list(dict.fromkeys(e.address for e in entries)))
    vetoed = set()
    if vet is not None:
        found = {address: at.holder() for address, at in stored.items()}
        vetoed = {i for i, entry in enumerate(entries) if not vet(i, entry, found[entry.address])}
    outcomes, names = _plan(entries, stored, rename, vetoed)
    wanted = {entry.address for i, entry in enumerate(entries) if i not in vetoed}
    new = [a for a, s in stored.items() if s.person_id is None and a in wanted]
    ids = await _new_ids(tx, len(new))
    for address, person_id in zip(new, ids, strict=True):
        stored[address].person_id = person_id
    people = [(stored[a].person_id, stored[a].name, stamp) for a in new]
    await tx.append("people", ("id", "name", "created_at"), people)
    fresh = [
        (stored[a].person_id, a.kind.value, a.value, stamp) for a in new if not stored[a].address_id
    ]
    await tx.append("addresses", ("person_id", "kind", "value", "created_at"), fresh)
    for address in new:
        if stored[address].address_id:  # known, without a person: theirs now
            claimed = await tx.fetch(
                "UPDATE addresses SET person_id = :person WHERE id = :id AND person_id IS NULL "
                "RETURNING id",
                {"person": stored[address].person_id, "id": stored[address].address_id},
            )
            if not claimed:
                raise _Raced("address claimed meanwhile")
    if names:
        await tx.executemany(
            "UPDATE people SET name = :name WHERE id = :id",
            [{"name": name, "id": person} for person, name in names.items()],
        )
    roles: dict[tuple[int, int, str], None] = {}
    final: list[Imported | None] = []
    for i, (entry, outcome) in enumerate(zip(entries, outcomes, strict=True)):
        if i in vetoed:
            final.append(None)
            continue
        if outcome is None:  # written: its person is known now
            outcome = Imported(stored[entry.address].person_id)
        final.append(outcome)
        if outcome.person_id is not None:
            roles[(outcome.person_id, entry.org_id, entry.role.value)] = None
    await _grant(tx, [(*key, stamp) for key in roles])
    return final


class _Raced(Exception):
    sqlstate = "23505"  # run again, as for a unique violation


def _plan(
    entries: Sequence[RosterEntry],
    stored: dict[Address, _Stored],
    rename: bool,
    vetoed: set[int],
) -> tuple[list[Imported | None], dict[int, str]]:
    """Each entry's outcome (None: taken by a person created by this batch, id to come, or
    vetoed) and the names to store on existing people. `stored` is updated as the rows go,
    so a later row of the batch sees what an earlier one did."""
    outcomes: list[Imported | None] = []
    names: dict[int, str] = {}
    for i, entry in enumerate(entries):
        if i in vetoed:
            outcomes.append(None)
            continue
        at = stored[entry.address]
        if at.person_id is None:
            if at.name is None:  # the first row names the new person
                at.name = entry.name
            outcomes.append(None)
            continue
        if at.name and not same_name(at.name, entry.name):
            if not rename:
                outcomes.append(Imported(None, holder=at.name))
                continue
            outcomes.append(Imported(at.person_id, holder=at.name, renamed=True))
            at.name = names[at.person_id] = entry.name
            continue
        if not at.name:  # a villager who joined by SMS gets the roster's name
            at.name = names[at.person_id] = entry.name
        outcomes.append(Imported(at.person_id))
    return outcomes, names


async def _lookup(tx: Executor, addresses: list[Address]) -> dict[Address, _Stored]:
    """Every address of the batch, as stored (absent ones as new)."""
    found = {a: _Stored(None, None, None) for a in addresses}
    by_kind: dict[str, list[str]] = {}
    for address in addresses:
        by_kind.setdefault(address.kind.value, []).append(address.value)
    select = (
        "SELECT a.id, a.value, a.person_id, p.name, o.code, o.kind AS org_kind, r.role "
        "FROM addresses a LEFT JOIN people p ON p.id = a.person_id "
        "LEFT JOIN roles r ON r.person_id = a.person_id "
        "LEFT JOIN organisations o ON o.id = r.org_id WHERE a.kind = :kind AND "
    )
    order = " ORDER BY a.id, r.id"
    for kind, values in by_kind.items():
        if tx.dialect == "postgresql":
            rows = await tx.fetch(
                select + "a.value = ANY(:values)" + order, {"kind": kind, "values": values}
            )
        else:
            rows = []
            for start in range(0, len(values), LOOKUP_SLICE):
                listed, params = in_list("v", values[start : start + LOOKUP_SLICE])
                params["kind"] = kind
                rows += await tx.fetch(select + f"a.value IN ({listed})" + order, params)
        for row in rows:
            at = found[Address(AddressKind(kind), row["value"])]
            if at.address_id is None:
                at.address_id, at.person_id, at.name = row["id"], row["person_id"], row["name"]
            if row["role"] is not None:
                at.grants += ((row["code"], row["org_kind"], Role(row["role"])),)
    return found


async def _new_ids(tx: Executor, count: int) -> list[int]:
    """Ids for `count` new people, taken before writing them."""
    if not count:
        return []
    if tx.dialect == "postgresql":
        rows = await tx.fetch(
            "SELECT nextval(pg_get_serial_sequence('people', 'id')) AS id "
            "FROM generate_series(1, :count)",
            {"count": count},
        )
        return [row["id"] for row in rows]
    # The batch holds SQLite's write lock from its first statement: nobody else inserts.
    # These are the rowids SQLite would give itself (INTEGER PRIMARY KEY: max + 1).
    top = await tx.fetchval("SELECT coalesce(max(id), 0) AS top FROM people")
    return list(range(top + 1, top + 1 + count))


async def _grant(tx: Executor, roles: list[tuple[int, int, str, Any]]) -> None:
    """Give the roles; one already held stays as it was (an import only adds)."""
    if not roles:
        return
    key = ("person_id", "org_id", "role")
    if tx.dialect == "postgresql":
        # COPY cannot skip conflicts: the batch's roles as arrays, one INSERT ... SELECT.
        columns = list(zip(*roles, strict=True))
        await tx.execute(
            "INSERT INTO roles (person_id, org_id, role, created_at) "
            "SELECT * FROM unnest(:p::bigint[], :o::bigint[], :r::text[], :at::timestamptz[])"
            f" ON CONFLICT ({', '.join(key)}) DO NOTHING",
            {"p": columns[0], "o": columns[1], "r": columns[2], "at": columns[3]},
        )
        return
    await tx.append("roles", (*key, "created_at"), roles, skip_conflicts_on=key)


async def revoke_unlisted(
    db: Database, org_ids: Sequence[int], listed: Callable[[list[int]], Listed]
) -> int:
    """For every (organisation, role) a complete roster lists, take that role from whoever
    holds it and is not listed there. `listed` says who the roster lists in each (org, role)
    of a slice of `org_ids` (the roster's organisations). One read per slice and one DELETE
    batch per 2,000 roles, however many organisations the roster covers. How many taken."""
    select = "SELECT id, person_id, org_id, role FROM roles WHERE "
    doomed: list[int] = []
    for start in range(0, len(org_ids), LOOKUP_SLICE):
        orgs = list(org_ids[start : start + LOOKUP_SLICE])
        if db.dialect == "postgresql":
            rows = await db.fetch(select + "org_id = ANY(:orgs)", {"orgs": orgs})
        else:
            named, params = in_list("o", orgs)
            rows = await db.fetch(select + f"org_id IN ({named})", params)
        keep_of = listed(orgs)
        for row in rows:
            keep = keep_of.get((row["org_id"], Role(row["role"])))
            if keep is not None and row["person_id"] not in keep:
                doomed.append(row["id"])
    revoked = 0
    for start in range(0, len(doomed), REVOKE_BATCH):
        ids = doomed[start : start + REVOKE_BATCH]
        async with db.transaction() as tx:  # a role granted meanwhile has another id: kept
            await tx.executemany("DELETE FROM roles WHERE id = :id", [{"id": i} for i in ids])
        revoked += len(ids)
    return revoked


async def upsert_orgs(db: Database, rows: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Organisations inserted or updated by code, in one executemany in one transaction:
    rows in the order given (parents before children), each finding its parent by code,
    so a parent earlier in the same batch is found. As OrgRepository.upsert, one
    statement for the lot instead of two a row."""
    if not rows:
        return 0
    async with db.transaction() as tx:
        await tx.executemany(
            """
            INSERT INTO organisations (code, name, kind, parent_id, theme, created_at)
            VALUES (:code, :name, :kind,
                    (SELECT id FROM organisations WHERE code = :parent_code), :theme, :now)
            ON CONFLICT (code) DO UPDATE SET
                name = excluded.name, kind = excluded.kind,
                parent_id = excluded.parent_id, theme = excluded.theme
            """,
            [
                {
                    "code": row["code"],
                    "name": row["name"],
                    "kind": row["kind"],
                    "parent_code": row.get("parent_code") or None,
                    "theme": row.get("theme") or None,
                    "now": now,
                }
                for row in rows
            ],
        )
    return len(rows)
