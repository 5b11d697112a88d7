"""Global rate benchmark: does a channel's [outbox.rate] hold for a deployment of workers?

    python bench/global_rate.py [--workers 2] [--rate 50] [--seconds 10] [--kill-seconds 30]
                                [--latency 0.05] [--db sqlite,postgresql]

Each worker is a separate process running the outbox dispatcher against one database, with
a fake SMS provider that answers after --latency seconds and notes the instant of each send
(all workers append to one file; every message is counted once). The backlog is larger than
the run can send. Three ways of keeping the rate, each in the same run against a fresh
database of each engine:

- process: what each process did before issue 15, a leaky bucket of its own (aiolimiter)
  at the full rate: N workers send N times the rate.
- bucket: what ships, one schedule of sending slots per channel in the database
  (storage/rate_slots.py), reserved 0.2 s at a time by every worker.
- leader: one dispatcher per channel under a database lease (the scheduler's `locks`), the
  others idle; the holder keeps its own leaky bucket.

Steady phase (--seconds): messages per second over the run after a 1 s warm-up, and the
busiest 1 s window, both against the configured rate. Kill phase (--kill-seconds, bucket
and leader): a worker that is sending (for leader, the lease holder) is SIGKILLed a quarter
into the run; the longest pause between two sends after the kill and the rate over the
phase. Ends with
`bench global_rate: ratio X (target 1.0)`, X the shipped (bucket) rate over the configured
one in the steady phase, the worst engine's (ratios 0.95 to 1.05 hold the rate).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter

from bot.channels.base import SendResult
from bot.clock import SystemClock
from bot.config import OutboxSection, RateSection
from bot.dispatcher import Dispatcher
from bot.messages import Address, AddressKind, Outbound
from storage.engine import open_database
from storage.outbox import Queued
from storage.repositories import Repositories, open_repositories
from storage.runs import RunRepository

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get(
    "GRASSROOTS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
ZONE = ZoneInfo("Asia/Shanghai")
STRATEGIES = ("process", "bucket", "leader")
SHIPPED = "bucket"
TARGET = 1.0
TOLERANCE = 0.05
WARM_UP = 1.0


# --- a worker (a child process) ----------------------------------------------------------


class ProcessRate:
    """The dispatcher's rate before issue 15: a leaky bucket per process and channel."""

    def __init__(self, rates: dict[str, float]) -> None:
        self._limiters = {
            name: AsyncLimiter(max(rate / 10, 1), 0.1 if rate >= 10 else 1 / rate)
            for name, rate in rates.items()
        }

    async def acquire(self, channel: str) -> None:
        await self._limiters[channel].acquire()


class LeaderDispatcher(Dispatcher):
    """Sends only while it holds the channel's lease in `locks`; renews it every round."""

    async def _start_batch(self, stop: asyncio.Event | None) -> int:
        now = self.clock.now()
        runs = RunRepository(self.repos.db)
        if not await runs.acquire("outbox:sms", self.holder, now, now + self.lease):
            return 0
        return await super()._start_batch(stop)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await super().run(stop)
        finally:
            await RunRepository(self.repos.db).release("outbox:sms", self.holder)


class StampingProvider:
    """Answers after `latency` seconds; appends the instant of each send to a shared file."""

    kind = AddressKind.SMS
    channel = "sms"

    def __init__(self, path: str, latency: float) -> None:
        self.latency = latency
        self.file = open(path, "a", buffering=1)  # for the process's life

    async def send(self, message: Outbound) -> SendResult:
        self.file.write(f"{time.time():.6f} {message.to.value}\n")
        await asyncio.sleep(self.latency)
        return SendResult("B", "sent", 1, "GSM-7")

    async def close(self) -> None:
        self.file.close()


async def work(strategy: str, url: str, out: str, rate: float, latency: float) -> None:
    repos = await open_repositories(url)
    settings = OutboxSection(
        quiet_hours="", rate=RateSection(sms=rate, telegram=rate, console=rate)
    )
    gate = ProcessRate({"sms": rate}) if strategy in ("process", "leader") else None
    kind = LeaderDispatcher if strategy == "leader" else Dispatcher
    provider = StampingProvider(out, latency)
    dispatcher = kind(
        repos,
        {AddressKind.SMS: provider},
        SystemClock(),
        settings,
        ZONE,
        rate=gate,
        idle_seconds=0.05,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await dispatcher.run(stop)
    await provider.close()
    await repos.db.close()


# --- the run -----------------------------------------------------------------------------


def pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://" + PG_BASE.split("://", 1)[1])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def fresh_database(engine: str, tmp: Path) -> tuple[str, str | None]:
    """A new empty database of `engine`: its URL, and the PG schema to drop after."""
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'{uuid.uuid4().hex}.db'}", None
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    await pg_admin(f"CREATE SCHEMA {schema}")
    return f"{PG_BASE}{'&' if '?' in PG_BASE else '?'}search_path={schema}", schema


async def seed(repos: Repositories, count: int) -> None:
    now = SystemClock().now() - timedelta(seconds=1)
    items = (
        Queued(f"g{i}", Outbound(Address(AddressKind.SMS, f"+86138{i:08d}"), "开会通知"))
        for i in range(count)
    )
    await repos.outbox.enqueue_many(items, now)


async def sending_worker(url: str, strategy: str, workers: list[Any]) -> Any:
    """The worker to kill: for `leader`, the one holding the channel's lease (killing one
    that stands by shows nothing); otherwise the first."""
    if strategy != "leader":
        return workers[0]
    db = await open_database(url)
    try:
        holder = await db.fetchval("SELECT holder FROM locks WHERE name = 'outbox:sms'")
    finally:
        await db.close()
    pid = int(holder.split(":")[1])
    return next(w for w in workers if w.pid == pid)


def busiest_second(times: list[float]) -> int:
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        best = max(best, j - i)
    return best


async def phase(
    engine: str, strategy: str, args: argparse.Namespace, tmp: Path, kill_at: float | None
) -> dict[str, Any]:
    seconds = args.kill_seconds if kill_at is not None else args.seconds
    url, schema = await fresh_database(engine, tmp)
    out = tmp / f"{uuid.uuid4().hex}.sends"
    out.touch()
    try:
        repos = await open_repositories(url)  # migrates once, before the workers start
        try:
            await seed(repos, int(args.rate * seconds * args.workers * 1.5) + 100)
        finally:
            await repos.db.close()
        command = [sys.executable, __file__, "--worker", strategy, url, str(out)]
        command += ["--rate", str(args.rate), "--latency", str(args.latency)]
        workers = [
            await asyncio.create_subprocess_exec(
                *command,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(args.workers)
        ]
        for worker in workers:
            assert worker.stdout is not None and await worker.stdout.readline() == b"ready\n"
        began = time.time()
        killed: float | None = None
        if kill_at is not None:
            await asyncio.sleep(seconds * kill_at)
            victim = await sending_worker(url, strategy, workers)
            victim.send_signal(signal.SIGKILL)
            killed = time.time()
            await asyncio.sleep(seconds * (1 - kill_at))
        else:
            await asyncio.sleep(seconds)
        ended = time.time()
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            await asyncio.wait_for(worker.wait(), 60)
        lines = out.read_text().split()
    finally:
        if schema is not None:
            await pg_admin(f"DROP SCHEMA {schema} CASCADE")
    stamps = [float(t) for t in lines[0::2]]
    recipients = lines[1::2]
    window = sorted(t for t in stamps if began + WARM_UP <= t < ended)
    result: dict[str, Any] = {
        "rate": len(window) / (ended - began - WARM_UP),
        "busiest": busiest_second(window),
        "sends": len(stamps),
        "twice": len(recipients) - len(set(recipients)),
    }
    if killed is not None:
        after = [t for t in window if t >= killed]
        gaps = [b - a for a, b in zip([killed, *after], after, strict=False)]
        result["gap"] = max(gaps, default=ended - killed)
    return result


async def main(args: argparse.Namespace) -> int:
    engines = [e for e in args.db.split(",") if e]
    if "postgresql" in engines and not pg_reachable():
        print("PostgreSQL not reachable at 127.0.0.1:5432: sqlite only")
        engines.remove("postgresql")
    print(
        f"{args.workers} worker processes, configured rate {args.rate:g}/s, provider latency "
        f"{args.latency * 1000:.0f} ms, steady {args.seconds:g} s, kill phase "
        f"{args.kill_seconds:g} s"
    )
    worst: float | None = None
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for engine in engines:
            for strategy in STRATEGIES:
                r = await phase(engine, strategy, args, tmp, None)
                ratio = r["rate"] / args.rate
                print(
                    f"{engine:10} {strategy:8} steady: {r['rate']:7.2f}/s = {ratio:.3f} x rate,"
                    f" busiest second {r['busiest']} = {r['busiest'] / args.rate:.2f} x rate,"
                    f" sent twice {r['twice']}"
                )
                if strategy == SHIPPED:
                    worst = ratio if worst is None else max(worst, ratio, key=lambda x: abs(x - 1))
            if args.kill_seconds > 0:
                for strategy in ("bucket", "leader"):
                    r = await phase(engine, strategy, args, tmp, 0.25)
                    print(
                        f"{engine:10} {strategy:8} one worker killed: {r['rate']:7.2f}/s = "
                        f"{r['rate'] / args.rate:.3f} x rate, longest pause after the kill "
                        f"{r['gap']:.2f} s, busiest second {r['busiest']}"
                    )
    assert worst is not None
    print(f"bench global_rate: ratio {worst:.3f} (target {TARGET})")
    return 0 if abs(worst - TARGET) <= TOLERANCE else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0, help="SMS messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kill-seconds", type=float, default=30.0, help="0: no kill phase")
    parser.add_argument("--latency", type=float, default=0.05, help="provider call, seconds")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--worker", nargs=3, metavar=("STRATEGY", "URL", "OUT"))
    return parser.parse_args()


if __name__ == "__main__":
    options = parse()
    if options.worker:
        strategy, url, out = options.worker
        asyncio.run(work(strategy, url, out, options.rate, options.latency))
        sys.exit(0)
    sys.exit(asyncio.run(main(options)))
