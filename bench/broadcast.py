"""Broadcast benchmark: enqueueing an audience vs a bare executemany, then the dispatcher's rate.

    python bench/broadcast.py [--recipients 1000000] [--seconds 20] [--limit 500]

A county with branches and N members, each with one SMS address, is seeded straight into
SQLite (not timed). Our enqueue is `create_broadcast` + `enqueue_audience` for the whole
county, run first at a tenth of the audience (one branch) and then in full, so the two
ru_maxrss deltas show whether memory grows with the number of recipients. The bare insert is
one sqlite3 executemany of the same N outbox rows into a database of the same schema and
pragmas, then one COMMIT. Both run in this process, one after the other. Then the dispatcher
runs against a fake SMS channel that answers at once, rate limited to --limit messages per
second, for --seconds, with the N rows pending. Ends with
`bench broadcast: ratio X.XX (target 0.5)`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import SendResult
from bot.clock import SystemClock
from bot.config import OutboxSection, RateSection
from bot.dispatcher import Dispatcher
from bot.messages import AddressKind, Outbound
from storage.models import Role
from storage.repositories import Repositories, open_repositories

BRANCHES = 10  # one branch holds a tenth of the audience: the small enqueue
CHUNK = 100_000  # rows per seeding transaction, so the WAL does not grow with N
TARGET = 0.5
MEMORY_TARGET_MB = 300
RATE_TOLERANCE = 0.05
TEXTS = {"zh-CN": "明晚七点在村委会召开党员大会，请准时参加。", "en": "Members' meeting 7pm."}
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
COLUMNS = (
    "idempotency_key, address_kind, address, body, not_before, created_at, updated_at,"
    " urgent, broadcast_id"
)


def phone(i: int) -> str:
    return f"+86138{i:08d}"


def stamp(at: datetime) -> str:
    # The engine's storage format for timestamps, so bare rows equal ours byte for byte.
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def rss_mb() -> float:
    # A high-water mark: +0 means the enqueue stayed under the peak reached before it.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def seed(db_path: Path, recipients: int, now: datetime) -> tuple[int, int]:
    """Organisations, people, addresses and roles straight through sqlite3 (import_roster
    goes row by row: hours for a million). Returns the county's and first branch's ids."""
    at = stamp(now)
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        cur = conn.execute(
            "INSERT INTO organisations (code, name, kind, created_at) VALUES ('C', '县委', "
            "'county', ?)",
            (at,),
        )
        county = cur.lastrowid
        assert county is not None
        conn.executemany(
            "INSERT INTO organisations (code, name, kind, parent_id, created_at) "
            "VALUES (?, ?, 'branch', ?, ?)",
            ((f"C{b:02d}", f"村{b}", county, at) for b in range(BRANCHES)),
        )
        branch_ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM organisations WHERE kind = 'branch' ORDER BY code"
            )
        ]
        conn.commit()
        # Person i gets id i + 1 and lives in branch i % BRANCHES.
        tables: tuple[tuple[str, Callable[[int], tuple[Any, ...]]], ...] = (
            (
                "INSERT INTO people (id, name, created_at) VALUES (?, ?, ?)",
                lambda i: (i + 1, f"党员{i}", at),
            ),
            (
                "INSERT INTO addresses (person_id, kind, value, created_at)"
                " VALUES (?, 'sms', ?, ?)",
                lambda i: (i + 1, phone(i), at),
            ),
            (
                "INSERT INTO roles (person_id, org_id, role, created_at)"
                " VALUES (?, ?, 'member', ?)",
                lambda i: (i + 1, branch_ids[i % BRANCHES], at),
            ),
        )
        # Generators, not lists: seeding must not set a memory high-water mark above the
        # enqueue's, or the ru_maxrss deltas below would read 0 whatever the enqueue used.
        for sql, row in tables:
            for start in range(0, recipients, CHUNK):
                stop = min(recipients, start + CHUNK)
                conn.executemany(sql, (row(i) for i in range(start, stop)))
                conn.commit()
    finally:
        conn.close()
    return county, branch_ids[0]


async def enqueue(repos: Repositories, root: int, now: datetime) -> tuple[int, int, float]:
    """Our path: one broadcast to every member under `root`. (id, rows queued, seconds)."""
    start = time.perf_counter()
    broadcast = await repos.outbox.create_broadcast(
        kind="broadcast", body=TEXTS["zh-CN"], now=now, org_id=root, role=Role.MEMBER.value
    )
    total = await repos.outbox.enqueue_audience(
        broadcast_id=broadcast,
        key_prefix=f"b:{broadcast}",
        root_org_id=root,
        roles=[Role.MEMBER],
        texts=TEXTS,
        default_language="zh-CN",
        now=now,
    )
    return broadcast, total, time.perf_counter() - start


def outbox_rows(broadcast: int, recipients: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """The rows enqueue_audience writes for the full broadcast, in COLUMNS order."""
    at = stamp(now)
    for i in range(recipients):
        key = f"b:{broadcast}:person:{i + 1}"
        yield (key, "sms", phone(i), TEXTS["zh-CN"], at, at, at, 0, broadcast)


def run_bare(db_path: Path, broadcast: int, recipients: int, now: datetime) -> float:
    # One executemany over a generator, one COMMIT: the fastest plain sqlite3 idiom.
    conn = sqlite3.connect(db_path)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        start = time.perf_counter()
        conn.executemany(
            f"INSERT INTO outbox ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            outbox_rows(broadcast, recipients, now),
        )
        conn.commit()
        return time.perf_counter() - start
    finally:
        conn.close()


def sample(db_path: Path, keys: Iterable[str]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return [
            conn.execute(f"SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?", (k,)).fetchone()
            for k in keys
        ]
    finally:
        conn.close()


class FakeChannel:
    """An SMS provider that accepts every message at once: only our overhead and the
    limiter decide the rate."""

    kind = AddressKind.SMS
    channel = "sms"

    def __init__(self) -> None:
        self.sends = 0

    async def send(self, message: Outbound) -> SendResult:
        self.sends += 1
        return SendResult(f"FAKE{self.sends}", "sent", 1, "UCS-2")

    async def close(self) -> None:
        return None


async def run_dispatcher(
    repos: Repositories, limit: float, seconds: float
) -> tuple[int, float, dict[str, int]]:
    fake = FakeChannel()
    settings = OutboxSection(
        quiet_hours="",  # the run must not depend on the local time of day
        rate=RateSection(sms=limit, telegram=limit, console=limit),
    )
    dispatcher = Dispatcher(
        repos, {AddressKind.SMS: fake}, SystemClock(), settings, ZoneInfo("Asia/Shanghai")
    )
    stop = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task  # finishes the sends under way, releases the rest of its claim
    elapsed = time.perf_counter() - start
    rows = await repos.db.fetch("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
    return fake.sends, elapsed, {r["status"]: r["n"] for r in rows}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--limit", type=float, default=500.0, help="SMS messages per second")
    args = parser.parse_args()
    n = args.recipients
    small_expected = len(range(0, n, BRANCHES))  # members of the first branch
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, bare_path = Path(tmp) / "ours.db", Path(tmp) / "bare.db"
        for path in (ours_path, bare_path):  # the real schema, migrations and pragmas
            await (await open_repositories(f"sqlite+aiosqlite:///{path}")).db.close()
        now = datetime.now(UTC)
        seed_start = time.perf_counter()
        county, first_branch = seed(ours_path, n, now)
        seed_s = time.perf_counter() - seed_start

        repos = await open_repositories(f"sqlite+aiosqlite:///{ours_path}")
        try:
            rss_before = rss_mb()
            small_id, small_total, small_s = await enqueue(repos, first_branch, now)
            rss_small = rss_mb()
            if small_total != small_expected:
                errors.append(f"tenth enqueue queued {small_total}, expected {small_expected}")
            # Not timed: both timed inserts start from an empty outbox, and the dispatcher
            # sees exactly the N rows of the full broadcast.
            await repos.db.write("DELETE FROM outbox WHERE broadcast_id = :b", {"b": small_id})
            rss_full_before = rss_mb()
            broadcast, total, ours_s = await enqueue(repos, county, now)
            # ru_maxrss is a high-water mark: read it before the bare phase can raise it.
            peak_mb = rss_mb()
            if total != n:
                errors.append(f"enqueue queued {total}, expected {n}")

            bare_s = run_bare(bare_path, broadcast, n, now)
            keys = [f"b:{broadcast}:person:{p}" for p in (1, n)]
            if sample(ours_path, keys) != sample(bare_path, keys):
                errors.append("bare rows differ from ours")

            sends, elapsed, statuses = await run_dispatcher(repos, args.limit, args.seconds)
        finally:
            await repos.db.close()

    ours_rate, bare_rate = n / ours_s, n / bare_s
    ratio = ours_rate / bare_rate
    achieved = sends / elapsed
    deviation = (achieved - args.limit) / args.limit * 100
    print(f"recipients: {n} in {BRANCHES} branches, seeded in {seed_s:.1f} s (not timed)")
    print(
        f"enqueue (ours), tenth: {small_total} rows in {small_s:.2f} s"
        f" ({small_total / small_s:,.0f} rows/s), peak RSS {rss_before:.0f} -> {rss_small:.0f} MB"
        f" (+{rss_small - rss_before:.1f})"
    )
    print(
        f"enqueue (ours), full: {total} rows in {ours_s:.2f} s ({ours_rate:,.0f} rows/s),"
        f" peak RSS {rss_full_before:.0f} -> {peak_mb:.0f} MB (+{peak_mb - rss_full_before:.1f})"
    )
    print(f"bare sqlite3 executemany+commit: {bare_rate:,.0f} rows/s ({bare_s:.2f} s)")
    print(f"peak memory (enqueue): {peak_mb:.0f} MB (target < {MEMORY_TARGET_MB})")
    print(
        f"dispatcher: {sends} sends in {elapsed:.2f} s; outbox rows now "
        + ", ".join(f"{s} {c}" for s, c in sorted(statuses.items()))
    )
    if statuses.get("sent", 0) != sends:
        errors.append(f"{sends} sends but {statuses.get('sent', 0)} rows marked sent")
    if statuses.get("sending", 0):
        errors.append(f"{statuses['sending']} rows still claimed after stop")
    print(
        f"dispatcher: {achieved:.1f} msg/s against a limit of {args.limit:g}"
        f" ({deviation:+.1f}%, target within {RATE_TOLERANCE:.0%})"
    )
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"bench broadcast: ratio {ratio:.2f} (target {TARGET})")


if __name__ == "__main__":
    asyncio.run(main())
