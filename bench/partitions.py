"""What monthly partitioning costs the hot path on PostgreSQL: the statements of the message
log and the outbox against the partitioned tables (schema head) and against the same tables
unpartitioned (schema 0019), in one run, interleaved in rounds so both see the same load.

    python bench/partitions.py [--messages 3000] [--concurrency 16] [--months 13] [--rows 0]

Per message: record (INSERT ... ON CONFLICT DO NOTHING, the key trigger on the partitioned
side), finish (UPDATE WHERE id); per outbox row: enqueue, claim (the dispatcher's SELECT ...
FOR UPDATE SKIP LOCKED), mark sent (UPDATE WHERE id). Then a provider's retry alone (the
conflict path, which reads by provider id, every partition's index). `--months` partitions
exist (as after a year of retention, the ahead months included), `--rows` rows pre-loaded into
each side first. Prints messages/s of each side and the ratio partitioned / plain.
Ends with `bench partitions: ratio X (target 0.9)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from storage import partitions
from storage.engine import open_database
from storage.migrate import upgrade
from storage.repositories import Repositories, open_repositories

TARGET = 0.9
BASE = os.environ.get("GRASSROOTS_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def admin(statement: str) -> None:
    conn = await asyncpg.connect("postgresql://" + BASE.split("://", 1)[1].split("?")[0])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def side(revision: str, months: int) -> tuple[str, Repositories]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    await admin(f"CREATE SCHEMA {schema}")
    url = f"{BASE}{'&' if '?' in BASE else '?'}search_path={schema}"
    await upgrade(url, revision)
    if revision != "head":  # the same repositories over the schema as it was
        return schema, Repositories.over(await open_database(url))
    repos = await open_repositories(url)
    # Past months as retention keeps them, made as months ahead: the same number of
    # partitions for the planner and the executor to consider.
    await partitions.ensure_ahead(repos.db, datetime.now(UTC), ahead=max(months - 1, 2))
    return schema, repos


async def one_message(repos: Repositories, i: int, now: datetime) -> None:
    sender = Address(AddressKind.SMS, f"+86138{i:08d}")
    msg = Inbound(Channel.SMS, uuid.uuid4().hex, sender, f"汇报 第{i}件好事", now)
    recorded = await repos.inbound.record(msg)
    await repos.inbound.finish(
        recorded.id,
        status="handled",
        handler="deed",
        person_id=None,
        replies=["收到"],
        error=None,
        now=now,
    )
    await repos.outbox.enqueue(f"bench:{msg.provider_id}", Outbound(sender, "收到，谢谢"), now)
    holder = f"bench:{i}"
    for row in await repos.outbox.claim(
        holder=holder, now=now, lease_until=now + timedelta(minutes=2), limit=1
    ):
        await repos.outbox.mark_sent(
            int(row["id"]),
            provider_id=f"SM{i}",
            channel_status="sent",
            segments=1,
            encoding="UCS-2",
            now=now,
        )


async def retries(repos: Repositories, count: int) -> float:
    """A provider's retry of a recorded message: the conflict path, and the read after it."""
    now = datetime.now(UTC)
    sender = Address(AddressKind.SMS, "+8613800000000")
    msg = Inbound(Channel.SMS, uuid.uuid4().hex, sender, "汇报 重发", now)
    await repos.inbound.record(msg)
    began = time.perf_counter()
    for _ in range(count):
        await repos.inbound.record(msg)
    return (time.perf_counter() - began) / count


async def load(repos: Repositories, start: int, count: int, concurrency: int) -> float:
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with gate:
            await one_message(repos, i, now)

    began = time.perf_counter()
    await asyncio.gather(*(run(start + i) for i in range(count)))
    return time.perf_counter() - began


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides = {"plain": await side("0019", 0), "partitioned": await side("head", args.months)}
    try:
        if args.rows:
            for _, repos in sides.values():
                await load(repos, 10_000_000, args.rows, args.concurrency)
        spent = dict.fromkeys(sides, 0.0)
        per_round = args.messages // args.rounds
        for r in range(args.rounds):
            for name, (_, repos) in sides.items():
                spent[name] += await load(repos, r * per_round, per_round, args.concurrency)
        done = per_round * args.rounds
        rate = {name: done / seconds for name, seconds in spent.items()}
        for name, value in rate.items():
            print(f"{name:12} {value:8.0f} messages/s (record, finish, enqueue, claim, sent)")
        parts = await sides["partitioned"][1].db.fetchval(
            "SELECT COUNT(*) AS n FROM pg_inherits WHERE inhparent = to_regclass('outbox')"
        )
        print(f"partitions per table: {parts}; concurrency {args.concurrency}")
        for name, (_, repos) in sides.items():
            took = await retries(repos, 200)
            print(f"{name:12} {took * 1e6:8.0f} µs per retried message (the conflict path)")
        ratio = rate["partitioned"] / rate["plain"]
        print(f"bench partitions: ratio {ratio:.2f} (target {TARGET})")
    finally:
        for schema, repos in sides.values():
            await repos.db.close()
            await admin(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    asyncio.run(main())
