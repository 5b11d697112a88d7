"""Join stall benchmark (issue 12.6): does 加入 with an absurd or mistyped code stall others?

    python bench/join_stall.py [--orgs 5000] [--joins 40]

A county of --orgs branches on a fresh SQLite file (not timed). The health probe's own work
(`SELECT 1` through the app's database, as /healthz does) is timed every 10 ms, first idle,
then while --joins messages arrive at once through the router: 加入 with 1,600 characters,
a 4,080-character deep link (/start's payload), and 20-character mistyped codes that take
the suggestion path. The worst probe latency under load is compared with the issue's budget
of 100 ms. Ends with `bench join_stall: ratio X (target 1.0)` (worst latency / 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from bot.app import App
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound

BUDGET = 0.100
TARGET = 1.0


async def probe(app: App, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        await app.repos.db.fetchval("SELECT 1 AS ok")
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--joins", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        app = await App.open(load_config(env={"GRASSROOTS_DATABASE_URL": url}))
        try:
            orgs = [{"code": "HX", "name": "和兴县委", "kind": "county"}] + [
                {"code": f"HX{i:05d}", "name": f"第{i}村党支部", "kind": "branch"}
                for i in range(args.orgs)
            ]
            await app.repos.orgs.upsert_many(orgs, app.clock.now())

            stop = asyncio.Event()
            idle_task = asyncio.create_task(probe(app, stop))
            await asyncio.sleep(1.0)
            stop.set()
            idle = await idle_task

            bodies = ["加入 " + "H" * 1600, "加入 " + "X" * 4080]
            bodies += [f"加入 HX0{i % 10}O1{'9' * 12}" for i in range(args.joins - 2)]
            stop = asyncio.Event()
            loaded_task = asyncio.create_task(probe(app, stop))
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    app.router.handle(
                        Inbound(
                            Channel.SMS,
                            uuid.uuid4().hex,
                            Address(AddressKind.SMS, f"+86139{n:08d}"),
                            body,
                            app.clock.now(),
                        )
                    )
                    for n, body in enumerate(bodies)
                )
            )
            elapsed = time.perf_counter() - started
            stop.set()
            loaded = await loaded_task
        finally:
            await app.close()
    worst_idle, worst_loaded = max(idle), max(loaded)
    print(f"{len(bodies)} joins against {args.orgs} organisations in {elapsed:.3f} s")
    print(f"health probe idle: worst {worst_idle * 1000:.1f} ms over {len(idle)} probes")
    print(f"health probe under joins: worst {worst_loaded * 1000:.1f} ms over {len(loaded)}")
    print(f"bench join_stall: ratio {worst_loaded / BUDGET:.3f} (target {TARGET})")


if __name__ == "__main__":
    asyncio.run(main())
