"""Activity aggregates of a whole county: what the public index and the console's overview
read on every view.

    python bench/activity.py [--db-url URL] [--deeds 200000] [--runs 9]

A county of 10 townships, 200 branches, 6,000 members and N deeds spread over a year (a
third of them in the last twelve weeks), with a few hundred commitments, is seeded straight
through the engine (not timed). Timed: `activity.subtree` of the county over twelve weeks,
then `rolled_up` and `categories` of the whole county since the week began, the median of
--runs. SQLite in a temporary file unless --db-url names a PostgreSQL database (a schema of
its own, vacuumed after seeding as autovacuum would, dropped at the end). Ends with
`bench activity: <ms> ms (target 200)`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from storage.activity import rolled_up
from storage.repositories import Repositories, open_repositories

TARGET_MS = 200
TOWNSHIPS = 10
BRANCHES = 20  # per township
MEMBERS = 30  # per branch
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
MONDAY = date(2026, 11, 23)


async def seed(repos: Repositories, deeds: int) -> int:
    db = repos.db
    orgs = [{"code": "HX", "name": "和兴县委", "kind": "county"}]
    for t in range(TOWNSHIPS):
        orgs.append(
            {"code": f"HX{t:02d}", "name": f"镇{t}", "kind": "township", "parent_code": "HX"}
        )
        for b in range(BRANCHES):
            code = f"HX{t:02d}{b:02d}"
            orgs.append(
                {"code": code, "name": f"村{code}", "kind": "branch", "parent_code": f"HX{t:02d}"}
            )
    await repos.orgs.upsert_many(orgs, NOW)
    ids = {r["code"]: int(r["id"]) for r in await db.fetch("SELECT id, code FROM organisations")}
    branches = [ids[o["code"]] for o in orgs if o["kind"] == "branch"]
    people = [{"name": f"党员{i}", "now": NOW} for i in range(len(branches) * MEMBERS)]
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO people (name, created_at) VALUES (:name, :now)", people)
    person_ids = [int(r["id"]) for r in await db.fetch("SELECT id FROM people ORDER BY id")]
    home = {p: branches[i // MEMBERS] for i, p in enumerate(person_ids)}
    roles = [
        {"p": p, "o": org, "role": "secretary" if i % MEMBERS == 0 else "member", "now": NOW}
        for i, (p, org) in enumerate(home.items())
    ]
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO roles (person_id, org_id, role, created_at) VALUES (:p, :o, :role, :now)",
            roles,
        )
    rng = random.Random(13)
    rows = []
    for _ in range(deeds):
        person = rng.choice(person_ids)
        back = rng.randrange(84) if rng.random() < 1 / 3 else rng.randrange(365)
        rows.append(
            {
                "p": person,
                "o": home[person],
                "c": rng.choice(["study", "service", "achievement", None]),
                "day": MONDAY + timedelta(days=3 - back),
                "now": NOW,
            }
        )
    for start in range(0, len(rows), 20_000):
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO deeds (person_id, org_id, category, body, local_day, created_at) "
                "VALUES (:p, :o, :c, '做了一件事', :day, :now)",
                rows[start : start + 20_000],
            )
    promised = [
        {"o": org, "due": MONDAY + timedelta(days=rng.randrange(-30, 30)), "now": NOW, "k": k}
        for k, org in enumerate(branches * 2)
    ]
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO commitments (org_id, body, due_on, created_at, source, published_at) "
            "VALUES (:o, '修路', :due, :now, 'bench:' || :k, :now)",
            [{**c, "k": str(c["k"])} for c in promised],
        )
    return ids["HX"]


async def measure(repos: Repositories, root: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        entries = await repos.activity.subtree(
            root, weeks=12, week_start=MONDAY, today=MONDAY + timedelta(days=3)
        )
        totals = rolled_up(entries)
        await repos.activity.categories([e.org_id for e in entries], MONDAY)
        times.append((time.perf_counter() - began) * 1000)
    assert len(totals) == 1 + TOWNSHIPS * (1 + BRANCHES)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url")
    parser.add_argument("--deeds", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        schema = None
        if url.startswith("postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            await _pg(url, f"CREATE SCHEMA {schema}")
            url += f"{'&' if '?' in url else '?'}search_path={schema}"
        repos = await open_repositories(url)
        try:
            root = await seed(repos, args.deeds)
            if schema:  # what autovacuum does to a table that has taken 200,000 rows
                await _pg(url.split("?")[0], f"VACUUM ANALYZE {schema}.deeds")
            times = await measure(repos, root, args.runs)
        finally:
            await repos.db.close()
            if schema:
                await _pg(url.split("?")[0], f"DROP SCHEMA {schema} CASCADE")
    median = statistics.median(times)
    print(
        f"database: {repos.db.dialect}; deeds: {args.deeds}; runs (ms): "
        + ", ".join(f"{t:.0f}" for t in times)
    )
    print(f"bench activity: {median:.0f} ms (target {TARGET_MS})")
    sys.exit(0 if median <= TARGET_MS else 1)


async def _pg(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1].split("?")[0])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
