"""Ingest benchmark: deed reports through the whole in-process pipeline vs a bare aiosqlite loop.

    python bench/ingest.py [--messages 20000] [--members 2000] [--concurrency 64]

The pipeline is the router (record the message durably, resolve the sender, pick the
handler), the deed handler and storage on SQLite, as `grassroots serve` runs them. The bare
loop inserts the same deed rows into a table of the same shape with the same pragmas, one
INSERT and one COMMIT per row, with the same durability (synchronous=FULL). Both run in this
process, one after the other, so the ratio is measured under the same machine load.
Ends with `bench ingest: ratio X (target 0.5)`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from bot.app import App
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from storage.models import Role
from storage.people import RosterEntry

BRANCHES = 20
TARGET = 0.5


def phone(i: int) -> str:
    return f"+86138{i:08d}"


async def seed(app: App, members: int) -> None:
    now = datetime.now(UTC)
    orgs = [{"code": "B", "name": "县委", "kind": "county"}]
    orgs += [
        {"code": f"B{b:02d}", "name": f"村{b}", "kind": "branch", "parent_code": "B"}
        for b in range(BRANCHES)
    ]
    await app.repos.orgs.upsert_many(orgs, now)
    ids = {o.code: o.id for o in await app.repos.orgs.all()}
    entries = [
        RosterEntry(
            ids[f"B{i % BRANCHES:02d}"], f"党员{i}", Address(AddressKind.SMS, phone(i)), Role.MEMBER
        )
        for i in range(members)
    ]
    await app.repos.people.import_roster(entries, now)


def bodies(messages: int, members: int) -> list[tuple[str, str]]:
    tags = ("#服务", "#学习", "", "3 ", "#正气")
    return [
        (phone(n % members), f"汇报 {tags[n % 5]}今天第{n}件好事：帮助邻居修水渠")
        for n in range(messages)
    ]


async def run_pipeline(
    db_path: Path, messages: int, members: int, concurrency: int
) -> tuple[float, int]:
    config = load_config(env={"GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"})
    app = await App.open(config)
    try:
        await seed(app, members)
        work = bodies(messages, members)
        queue: asyncio.Queue[tuple[int, tuple[str, str]]] = asyncio.Queue()
        for item in enumerate(work):
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                n, (sender, body) = queue.get_nowait()
                replies = await app.router.handle(
                    Inbound(
                        Channel.SMS,
                        f"SM{n:032d}",
                        Address(AddressKind.SMS, sender),
                        body,
                        datetime.now(UTC),
                    )
                )
                assert replies and "记录" in replies[0].body, replies

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        stored = await app.repos.db.fetchval("SELECT COUNT(*) AS n FROM deeds")
    finally:
        await app.close()
    return elapsed, stored


async def run_bare(db_path: Path, messages: int, members: int, synchronous: str) -> float:
    # The ordinary aiosqlite idiom: execute, then commit, once per row.
    async with aiosqlite.connect(db_path) as conn:
        for pragma in ("PRAGMA journal_mode=WAL", f"PRAGMA synchronous={synchronous}"):
            await conn.execute(pragma)
        await conn.execute(
            "CREATE TABLE deeds (id INTEGER PRIMARY KEY, person_id INTEGER, org_id INTEGER,"
            " category TEXT, body TEXT, local_day TEXT, created_at TEXT)"
        )
        await conn.commit()
        work = bodies(messages, members)
        day = datetime.now(UTC).date().isoformat()
        start = time.perf_counter()
        for n, (_, body) in enumerate(work):
            await conn.execute(
                "INSERT INTO deeds (person_id, org_id, category, body, local_day, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (n % members, n % BRANCHES, "service", body, day, datetime.now(UTC).isoformat()),
            )
            await conn.commit()
        return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_s, stored = await run_pipeline(
            Path(tmp) / "pipeline.db", args.messages, args.members, args.concurrency
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The pipeline commits with synchronous=FULL (a commit survives a power cut): the
        # ratio compares it with a bare loop giving the same promise. NORMAL (survives a
        # crash of the process only) is shown for reference.
        bare_s = await run_bare(Path(tmp) / "bare.db", args.messages, args.members, "FULL")
        normal_s = await run_bare(Path(tmp) / "normal.db", args.messages, args.members, "NORMAL")
    pipeline_rate = args.messages / pipeline_s
    bare_rate = args.messages / bare_s
    ratio = pipeline_rate / bare_rate
    print(f"messages: {args.messages} from {args.members} members, concurrency {args.concurrency}")
    print(f"pipeline: {pipeline_rate:,.0f} msg/s ({pipeline_s:.2f} s), deeds stored: {stored}")
    print(
        f"bare aiosqlite insert+commit, synchronous=FULL: {bare_rate:,.0f} rows/s ({bare_s:.2f} s)"
    )
    print(
        f"bare aiosqlite insert+commit, synchronous=NORMAL (reference, weaker promise): "
        f"{args.messages / normal_s:,.0f} rows/s; pipeline/that = "
        f"{pipeline_rate * normal_s / args.messages:.2f}"
    )
    print(f"peak memory (pipeline): {peak_mb:.0f} MB (target < 200)")
    if stored != args.messages:
        print(f"ERROR: {args.messages - stored} deeds missing", file=sys.stderr)
        sys.exit(1)
    print(f"bench ingest: ratio {ratio:.2f} (target {TARGET})")


if __name__ == "__main__":
    asyncio.run(main())
