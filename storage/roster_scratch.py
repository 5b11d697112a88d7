"""A roster file's rows on scratch disk, for the checks that need the whole file: memory
stays flat however many rows a province's file has.

Some rules of an import see every row at once: a phone the file gives two names is refused
in all its rows, a row repeating an earlier one is reported, a person listed in two
organisations is told so, and `--replace` needs who was listed where. Held in Python
dictionaries these cost about a kilobyte a row (gigabytes for a province); here the rows go
to a temporary SQLite file (the standard library's sqlite3, whatever the deployment's
database, deleted on close) and the checks are a few indexed queries over it.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from storage.models import Role

Row = tuple[int, int, str, str, str, str]  # line, organisation id, name, name key, phone, role


class RosterScratch:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="roster-")
        self._db = sqlite3.connect(Path(self._dir.name) / "rows.db", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")  # scratch: nothing here must survive a crash
        self._db.execute("BEGIN")
        self._db.execute(
            "CREATE TABLE rows (line INTEGER PRIMARY KEY, org_id INTEGER, name TEXT, "
            "name_key TEXT, phone TEXT, role TEXT)"
        )
        self._db.execute("CREATE TABLE listed (org_id INTEGER, role TEXT, person_id INTEGER)")

    def __enter__(self) -> RosterScratch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, rows: Iterable[Row]) -> None:
        self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", rows)

    def settle(self) -> None:
        """All rows are in: mark the phones given two names, and the rows to import (the
        first of each organisation, phone and role, from phones with one name)."""
        self._db.execute("CREATE INDEX rows_phone ON rows (phone, name_key)")
        self._db.execute(
            "CREATE TABLE two_names AS SELECT phone FROM rows GROUP BY phone "
            "HAVING count(DISTINCT name_key) > 1"
        )
        self._db.execute("CREATE UNIQUE INDEX two_names_phone ON two_names (phone)")
        self._db.execute(
            "CREATE TABLE firsts AS SELECT line, min(line) OVER "
            "(PARTITION BY org_id, phone, role) AS first FROM rows "
            "WHERE phone NOT IN (SELECT phone FROM two_names)"
        )
        self._db.execute(
            "CREATE TABLE kept (line INTEGER PRIMARY KEY, org_id INTEGER, name TEXT, "
            "phone TEXT, role TEXT)"
        )
        self._db.execute(
            "INSERT INTO kept SELECT r.line, r.org_id, r.name, r.phone, r.role FROM firsts f "
            "JOIN rows r ON r.line = f.line WHERE f.line = f.first"
        )
        self._db.execute("CREATE INDEX kept_phone ON kept (phone, org_id)")

    def two_names(self) -> Iterator[tuple[int, str, list[tuple[str, int]]]]:
        """Each row of a phone given two names: (line, phone, [(name, line first given)])."""
        rows = self._db.execute(
            "SELECT line, phone, name, name_key FROM rows "
            "WHERE phone IN (SELECT phone FROM two_names) ORDER BY phone, line"
        )
        group: list[tuple[int, str, str, str]] = []
        for row in rows:
            if group and group[0][1] != row[1]:
                yield from _named(group)
                group = []
            group.append(row)
        yield from _named(group)

    def repeats(self) -> Iterator[tuple[int, int]]:
        """(line, the line it repeats) for every row repeating an earlier one."""
        yield from self._db.execute(
            "SELECT line, first FROM firsts WHERE line > first ORDER BY line"
        )

    def kept(self, size: int) -> Iterator[list[tuple[int, int, str, str, str, str]]]:
        """The rows to import, in the file's order, `size` at a time: (line, organisation
        id, name, phone, role, the organisations the file lists the phone in: '3,17')."""
        cursor = self._db.execute(
            "SELECT line, org_id, name, phone, role, "
            "(SELECT group_concat(o.org_id) FROM kept o WHERE o.phone = k.phone) "
            "FROM kept k ORDER BY line"
        )
        while batch := cursor.fetchmany(size):
            yield batch

    def list_people(self, rows: Iterable[tuple[int, str, int]]) -> None:
        """Imported: (organisation id, role, person), for `--replace`."""
        self._db.executemany("INSERT INTO listed VALUES (?, ?, ?)", rows)

    def listed(self, org_ids: list[int]) -> dict[tuple[int, Role], set[int]]:
        """Who the file lists in each (organisation, role) of these organisations."""
        marks = ", ".join("?" * len(org_ids))
        found: dict[tuple[int, Role], set[int]] = {}
        for org_id, role, person_id in self._db.execute(
            f"SELECT org_id, role, person_id FROM listed WHERE org_id IN ({marks})", org_ids
        ):
            found.setdefault((org_id, Role(role)), set()).add(person_id)
        return found

    def listed_orgs(self) -> list[int]:
        """The organisations imported into (and an index for `listed`)."""
        self._db.execute("CREATE INDEX IF NOT EXISTS listed_org ON listed (org_id)")
        return [org for (org,) in self._db.execute("SELECT DISTINCT org_id FROM listed")]


def _named(
    group: list[tuple[int, str, str, str]],
) -> Iterator[tuple[int, str, list[tuple[str, int]]]]:
    """The rows of one phone, each with the names given to it (the first row of each)."""
    given: dict[str, tuple[str, int]] = {}
    for line, _, name, key in group:
        given.setdefault(key, (name, line))
    names = list(given.values())
    for line, phone, _, _ in group:
        yield line, phone, names
