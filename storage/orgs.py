"""Organisations: the tree of county, township and branch (and Youth League, unions...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.engine import Database, Executor, Row
from storage.models import Org

_COLUMNS = "id, code, name, kind, parent_id, theme, timezone"

# The CTE a subtree query starts from: `sub(id)` holds the organisation :root and everything
# below it (UNION, not ALL: should a cycle ever be stored, the walk still ends). ONE_ORG is
# the same shape holding :root alone, for a query that may or may not descend.
SUBTREE = """
    WITH RECURSIVE sub(id) AS (
        SELECT id FROM organisations WHERE id = :root
        UNION
        SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id
    )
"""
ONE_ORG = "WITH sub(id) AS (SELECT id FROM organisations WHERE id = :root)"
# From the organisation :id up to its root, `depth` 0 for itself.
_UP = """
    WITH RECURSIVE up(id, parent_id, depth) AS (
        SELECT id, parent_id, 0 FROM organisations WHERE id = :id
        UNION ALL
        SELECT o.id, o.parent_id, up.depth + 1
        FROM organisations o JOIN up ON o.id = up.parent_id
        WHERE up.depth < 64  -- a tree is a few levels deep; a cycle must not hang us
    )
"""


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _org(row: Row) -> Org:
    return Org(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        kind=row["kind"],
        parent_id=row["parent_id"],
        theme=row["theme"],
        timezone=row["timezone"],
    )


class OrgRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_code(self, code: str) -> Org | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM organisations WHERE code = :code", {"code": code.upper()}
        )
        return _org(row) if row else None

    async def by_id(self, org_id: int) -> Org | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM organisations WHERE id = :id", {"id": org_id}
        )
        return _org(row) if row else None

    async def all(self) -> list[Org]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM organisations ORDER BY code")
        return [_org(r) for r in rows]

    async def first_joinable(self, kinds: frozenset[str]) -> Org | None:
        """The first organisation a villager could join, Party branches before the rest,
        by code: a real code for examples in help texts."""
        names = {f"k{i}": kind for i, kind in enumerate(sorted(kinds))}
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM organisations WHERE kind IN "
            f"({', '.join(':' + n for n in names)}) "
            "ORDER BY CASE WHEN kind = 'branch' THEN 0 ELSE 1 END, code LIMIT 1",
            names,
        )
        return _org(row) if row else None

    async def join_candidates(self, typed: str, kinds: frozenset[str], per_way: int) -> list[Org]:
        """A bounded set of joinable organisations worth comparing with a mistyped code or
        name, whatever the size of the county: the codes following each of its prefixes
        (2 to 8 characters) and the codes just below it, by ranges on the unique index of
        `code`, and names holding its first or last character. At most 10 * per_way rows."""
        names = {f"k{i}": kind for i, kind in enumerate(sorted(kinds))}
        kind_in = f"kind IN ({', '.join(':' + n for n in names)})"
        two = typed[:2]
        hi = two[:-1] + chr(ord(two[-1]) + 1)  # the end of the codes sharing its first two
        ranges = [(typed[:k], hi, "code") for k in dict.fromkeys(range(2, min(len(typed), 8) + 1))]
        ranges.append((two, typed, "code DESC"))
        found: dict[int, Org] = {}
        for lo, below, order in ranges:
            rows = await self.db.fetch(
                f"SELECT {_COLUMNS} FROM organisations WHERE code >= :lo AND code < :below "
                f"AND {kind_in} ORDER BY {order} LIMIT {int(per_way)}",
                {"lo": lo, "below": below, **names},
            )
            found.update((r["id"], _org(r)) for r in rows)
        for char in dict.fromkeys((typed[0], typed[-1])):
            rows = await self.db.fetch(
                f"SELECT {_COLUMNS} FROM organisations WHERE name LIKE :pattern ESCAPE '!' "
                f"AND {kind_in} ORDER BY code LIMIT {int(per_way)}",
                {"pattern": "%" + _like_escape(char) + "%", **names},
            )
            found.update((r["id"], _org(r)) for r in rows)
        return sorted(found.values(), key=lambda o: o.code)

    async def children(self, org_id: int) -> list[Org]:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM organisations WHERE parent_id = :id ORDER BY code",
            {"id": org_id},
        )
        return [_org(r) for r in rows]

    async def subtree_ids(self, org_id: int) -> list[int]:
        """The organisation and everything below it (隶属关系 scopes every permission)."""
        rows = await self.db.fetch(SUBTREE + "SELECT id FROM sub", {"root": org_id})
        return [r["id"] for r in rows]

    async def subtree(self, org_id: int) -> list[Org]:
        """The organisation and everything below it, by code."""
        rows = await self.db.fetch(
            SUBTREE + f"SELECT {_COLUMNS} FROM organisations WHERE id IN (SELECT id FROM sub) "
            "ORDER BY code",
            {"root": org_id},
        )
        return [_org(r) for r in rows]

    async def ancestor_ids(self, org_id: int) -> list[int]:
        """From the organisation up to its root, itself first."""
        rows = await self.db.fetch(_UP + "SELECT id FROM up ORDER BY depth", {"id": org_id})
        return [r["id"] for r in rows]

    async def ancestors(self, org_id: int) -> list[Org]:
        """The organisations above it, nearest first (itself not included)."""
        rows = await self.db.fetch(
            _UP + f"SELECT {', '.join('o.' + c for c in _COLUMNS.split(', '))} "
            "FROM up JOIN organisations o ON o.id = up.id WHERE up.depth > 0 ORDER BY up.depth",
            {"id": org_id},
        )
        return [_org(r) for r in rows]

    async def upsert_many(self, orgs: list[dict[str, Any]], now: datetime) -> int:
        """Insert or update by code, in the order given (parents before children)."""
        from storage.roster_import import upsert_orgs  # one statement for the lot

        return await upsert_orgs(self.db, orgs, now)


async def upsert(tx: Executor, org: dict[str, Any], now: datetime) -> int:
    parent_id = None
    if org.get("parent_code"):
        parent_id = await tx.fetchval(
            "SELECT id FROM organisations WHERE code = :code", {"code": org["parent_code"]}
        )
    return await tx.fetchval(
        """
        INSERT INTO organisations (code, name, kind, parent_id, theme, created_at)
        VALUES (:code, :name, :kind, :parent_id, :theme, :now)
        ON CONFLICT (code) DO UPDATE SET
            name = excluded.name, kind = excluded.kind,
            parent_id = excluded.parent_id, theme = excluded.theme
        RETURNING id
        """,
        {
            "code": org["code"],
            "name": org["name"],
            "kind": org["kind"],
            "parent_id": parent_id,
            "theme": org.get("theme") or None,
            "now": now,
        },
    )
