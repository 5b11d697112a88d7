"""Capacity inputs: what one worker does per second, and what each message costs the database.

    python bench/capacity.py [--members 2000] [--villagers 20000] [--messages 4000]
                             [--concurrency 64] [--engines sqlite,postgresql] [--pg URL]
    python bench/capacity.py --project docs/scaling.md   # no run: the projection only

The measured inputs of docs/scaling.md. For each engine (SQLite file; PostgreSQL in a fresh
schema of --pg, dropped afterwards) one App, as `grassroots serve` wires it, gets a county of
branches, members with an SMS number, members with a Telegram chat, and villagers on one
branch (import_roster, not timed). Then, one phase after the other, in this one process (one
worker; no HTTP, no signature check: the web layer's cost is in bench/sms_webhook.py):

- SMS deed reports from members, Telegram deed reports from members, through the router;
- a poll opened to every villager (open_poll: the fan-out into the outbox);
- the villagers' answers (mixed forms, "1", "２", "满意"), through the router;
- the dispatcher sending the poll's messages through a fake SMS provider that answers at
  once, under a rate no provider would allow, so only our side limits it.

For each phase: messages per second (--concurrency in flight), statements per message (every
fetch/execute/executemany the engine runs, counted by wrapping its executors, plus the
transactions opened: on PostgreSQL a transaction adds BEGIN and COMMIT round trips), rows
written per message (PostgreSQL: pg_stat_user_tables of the schema; SQLite: total_changes())
and, on PostgreSQL, WAL bytes per message (cluster-wide LSN: an upper bound when others write
to the same server). At the end, bytes per row of every table (PostgreSQL: average
pg_column_size of a row, and pg_total_relation_size with indexes and TOAST over the rows).

Prints the figures as the markdown tables docs/scaling.md holds, then the projection of that
document computed from the printed (rounded) figures, as `--project` computes it from the
document. Ends with `bench capacity: ratio X (target 0.8)`: messages per
second of the inbound kinds together on PostgreSQL over SQLite (issue 15's target for one
worker on PostgreSQL against one on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App
from bot.channels.base import SendResult
from bot.config import OutboxSection, RateSection, load_config
from bot.dispatcher import Dispatcher
from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from bot.polls import open_poll
from bot.texts import texts_for
from storage import engine
from storage.models import Role
from storage.people import RosterEntry

TARGET = 0.8
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BRANCHES = 20
IMPORT_CHUNK = 5_000
STATS_FLUSH_S = 11.0
DISPATCH_SECONDS = 30.0  # at most; stops earlier when the poll's messages are all sent
TAGS = ("#服务", "#学习", "", "3 ", "#正气")
SIZE_MIN_ROWS = 100
PROJECTED_PER_KIND = 1_000  # messages a phase read back from a table stands for
INBOUND_KINDS = ("sms_report", "telegram_report", "poll_answer")


# --- Counting what the engine runs ---------------------------------------------------------


@dataclass(slots=True)
class Counter:
    statements: int = 0
    transactions: int = 0


COUNT = Counter()


def instrument() -> None:
    """Wrap the engine's executors: every statement a repository runs goes through one of
    these (Database.fetch/write/execute and a transaction's executor alike)."""

    def counted(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @wraps(method)
        async def run(*args: Any, **kwargs: Any) -> Any:
            COUNT.statements += 1
            return await method(*args, **kwargs)

        return run

    def opened(method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def begin(*args: Any, **kwargs: Any) -> Any:
            COUNT.transactions += 1
            return method(*args, **kwargs)

        return begin

    for unit in (engine._PgExecutor, engine._SqliteUnit):
        for name in ("fetch", "execute", "executemany"):
            setattr(unit, name, counted(getattr(unit, name)))
    for db in (engine.PostgresDatabase, engine.SqliteDatabase):
        db.transaction = opened(db.transaction)  # type: ignore[method-assign]


# --- Workload --------------------------------------------------------------------------------


def member_phone(i: int) -> str:
    return f"+86138{i:08d}"


def villager_phone(i: int) -> str:
    return f"+86139{i:08d}"


def telegram_chat(i: int) -> str:
    return str(700_000_000 + i)


@dataclass(slots=True)
class Phase:
    name: str
    messages: int
    seconds: float
    statements: int
    transactions: int
    rows: int
    wal_bytes: int | None
    worker_cpu: float  # seconds of this process's CPU (SQLite's work runs in its thread)
    db_cpu: float | None  # seconds of the PostgreSQL backends' CPU serving this process
    rows_by_table: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def per(self, value: float) -> float:
        return value / self.messages


@dataclass(slots=True)
class EngineRun:
    engine: str
    phases: dict[str, Phase] = field(default_factory=dict)
    sizes: list[tuple[str, int, float, float]] = field(default_factory=list)  # table, rows, B
    database_bytes: int = 0
    errors: list[str] = field(default_factory=list)

    def inbound_rate(self) -> float:
        """The inbound kinds together: total messages over total time."""
        phases = [self.phases[k] for k in INBOUND_KINDS]
        return sum(p.messages for p in phases) / sum(p.seconds for p in phases)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(pids: set[int]) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend (same machine: /proc)."""
    out = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone, or on another machine
            continue
        fields = stat.rpartition(")")[2].split()
        out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return out


class Meter:
    """Counters before and after a phase: statements, rows, WAL, CPU time.

    CPU time is the figure to size with on a loaded machine: wall-clock rates fall when
    other work takes the cores, the CPU seconds a message costs much less."""

    def __init__(self, app: App, schema: str | None) -> None:
        self.app = app
        self.schema = schema

    def backends(self) -> set[int]:
        """The server pids of the pool's connections (asyncpg keeps them in its holders)."""
        pool = getattr(self.app.repos.db, "_pool", None)
        if pool is None:
            return set()
        return {h._con.get_server_pid() for h in pool._holders if h._con is not None}

    async def rows(self) -> dict[str, int]:
        db = self.app.repos.db
        if self.schema is None:
            return {"*": int(await db.fetchval("SELECT total_changes()"))}
        # An idle backend flushes its counters within PGSTAT_IDLE_INTERVAL (10 s).
        await asyncio.sleep(STATS_FLUSH_S)
        async with db.transaction() as tx:  # one connection: clear, then read the snapshot
            await tx.execute("SELECT pg_stat_clear_snapshot()")
            found = await tx.fetch(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n"
                " FROM pg_stat_user_tables WHERE schemaname = :s",
                {"s": self.schema},
            )
        return {r["relname"]: int(r["n"]) for r in found}

    async def wal(self) -> int | None:
        if self.schema is None:
            return None
        lsn = await self.app.repos.db.fetchval(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
        )
        return int(lsn)

    async def measure(self, name: str, messages: int, work: Callable[[], Awaitable[Any]]) -> Phase:
        rows0, wal0 = await self.rows(), await self.wal()
        st0, tx0 = COUNT.statements, COUNT.transactions
        db0 = backend_cpu(self.backends())
        cpu0 = time.process_time()
        start = time.perf_counter()
        await work()
        seconds = time.perf_counter() - start
        worker_cpu = time.process_time() - cpu0
        db1 = backend_cpu(self.backends() | set(db0))
        st, tx = COUNT.statements - st0, COUNT.transactions - tx0
        wal1 = await self.wal()
        rows1 = await self.rows()
        # The meter's own statements are not the phase's.
        by_table = {t: n - rows0.get(t, 0) for t, n in rows1.items() if n - rows0.get(t, 0)}
        return Phase(
            name,
            messages,
            seconds,
            st,
            tx,
            sum(by_table.values()),
            None if wal0 is None or wal1 is None else wal1 - wal0,
            worker_cpu,
            sum(t - db0.get(pid, 0.0) for pid, t in db1.items()) if self.schema else None,
            by_table,
        )


async def seed(app: App, members: int, villagers: int, now: datetime) -> int:
    """A county of BRANCHES branches; members by SMS and by Telegram spread over them;
    villagers on the first branch. Returns the first branch's id."""
    orgs = [{"code": "X", "name": "县委", "kind": "county"}]
    orgs += [
        {"code": f"X{b:02d}", "name": f"村{b}党支部", "kind": "branch", "parent_code": "X"}
        for b in range(BRANCHES)
    ]
    await app.repos.orgs.upsert_many(orgs, now)
    ids = {o.code: o.id for o in await app.repos.orgs.all()}
    entries = [
        RosterEntry(
            ids[f"X{i % BRANCHES:02d}"],
            f"党员{i}",
            Address(AddressKind.SMS, member_phone(i))
            if i % 2 == 0
            else Address(AddressKind.TELEGRAM, telegram_chat(i)),
            Role.MEMBER,
        )
        for i in range(members)
    ]
    entries += [
        RosterEntry(
            ids["X00"], f"村民{i}", Address(AddressKind.SMS, villager_phone(i)), Role.PUBLIC
        )
        for i in range(villagers)
    ]
    for start in range(0, len(entries), IMPORT_CHUNK):
        await app.repos.people.import_roster(entries[start : start + IMPORT_CHUNK], now)
    return ids["X00"]


async def through_router(app: App, inbound: list[Inbound], concurrency: int) -> list[str]:
    """Every message through the router, at most `concurrency` in flight; returns the
    messages that got no reply."""
    it = iter(inbound)
    silent: list[str] = []

    async def worker() -> None:
        for message in it:
            if not await app.router.handle(message):
                silent.append(message.provider_id)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return silent


def reports(channel: Channel, members: int, count: int) -> list[Inbound]:
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        if channel is Channel.SMS:
            who = Address(AddressKind.SMS, member_phone(n * 2 % members))
        else:
            who = Address(AddressKind.TELEGRAM, telegram_chat((n * 2 + 1) % members))
        body = f"汇报 {TAGS[n % len(TAGS)]}今天帮邻居修水渠 {n}"
        out.append(Inbound(channel, f"{channel}-{uuid.uuid4().hex}", who, body, now))
    return out


def answers(villagers: int, count: int, options: tuple[str, ...]) -> list[Inbound]:
    now = datetime.now(UTC)
    out = []
    for n in range(min(count, villagers)):
        choice = n * 37 % len(options)
        body = (str(choice + 1), chr(ord("０") + choice + 1), options[choice])[n % 3]
        sender = Address(AddressKind.SMS, villager_phone(n))
        out.append(Inbound(Channel.SMS, f"SM{uuid.uuid4().hex}", sender, body, now))
    return out


class FakeSms:
    """A provider that accepts every message at once."""

    kind = AddressKind.SMS
    channel = "sms"

    def __init__(self, expected: int) -> None:
        self.sends = 0
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send(self, message: Outbound) -> SendResult:
        self.sends += 1
        if self.sends >= self.expected:
            self.all_sent.set()
        return SendResult(f"FAKE{self.sends}", "sent", 1, "UCS-2")

    async def close(self) -> None:
        return None


async def dispatch_all(app: App, fake: FakeSms) -> None:
    unlimited = 1_000_000.0
    settings = OutboxSection(
        quiet_hours="",  # the run must not depend on the local time of day
        rate=RateSection(sms=unlimited, telegram=unlimited, console=unlimited),
    )
    dispatcher = Dispatcher(
        app.repos, {AddressKind.SMS: fake}, app.clock, settings, ZoneInfo("Asia/Shanghai")
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    waiter = asyncio.create_task(fake.all_sent.wait())
    await asyncio.wait({task, waiter}, timeout=DISPATCH_SECONDS, return_when=FIRST_COMPLETED)
    waiter.cancel()
    stop.set()
    await task


# --- One engine ------------------------------------------------------------------------------


async def table_sizes(app: App, schema: str | None) -> list[tuple[str, int, float, float]]:
    """(table, rows, average row bytes, bytes per row with indexes and TOAST), on
    PostgreSQL; SQLite has no per-table size without the dbstat extension (its file size is
    reported instead, by the caller)."""
    db = app.repos.db
    if schema is None:
        return []
    # A partitioned table (the message log, the outbox) is measured whole, over its monthly
    # partitions; the partitions themselves are not listed apart.
    tables = await db.fetch(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :s AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " ORDER BY c.relname",
        {"s": schema},
    )
    out = []
    for t in tables:
        name = t["relname"]
        row = await db.fetchrow(
            f'SELECT COUNT(*) AS n, AVG(pg_column_size(t.*)) AS avg FROM "{schema}"."{name}" t'
        )
        assert row is not None
        total = await db.fetchval(
            "SELECT COALESCE((SELECT SUM(pg_total_relation_size(relid))::bigint"
            " FROM pg_partition_tree(:t::regclass)), pg_total_relation_size(:t::regclass))",
            {"t": f'"{schema}"."{name}"'},
        )
        n = int(row["n"])
        if n:
            out.append((name, n, float(row["avg"]), int(total) / n))
    return out


async def run_engine(
    name: str, url: str, schema: str | None, args: argparse.Namespace, db_file: Path | None
) -> EngineRun:
    env = {
        "GRASSROOTS_DATABASE_URL": url,
        "GRASSROOTS_SECRET_KEY": "capacity-bench-" + uuid.uuid4().hex,
    }
    config = load_config(env=env)
    app = await App.open(config)
    result = EngineRun(name)
    meter = Meter(app, schema)
    try:
        now = datetime.now(UTC)
        start = time.perf_counter()
        branch = await seed(app, args.members, args.villagers, now)
        print(f"[{name}] seeded in {time.perf_counter() - start:.1f} s", file=sys.stderr)

        for kind, channel in (("sms_report", Channel.SMS), ("telegram_report", Channel.TELEGRAM)):
            batch = reports(channel, args.members, args.messages)
            silent: list[str] = []

            async def work(batch: list[Inbound] = batch, silent: list[str] = silent) -> None:
                silent.extend(await through_router(app, batch, args.concurrency))

            result.phases[kind] = await meter.measure(kind, len(batch), work)
            if silent:
                result.errors.append(f"{kind}: {len(silent)} messages got no reply")
            print(f"[{name}] {kind}: {result.phases[kind].rate:,.0f}/s", file=sys.stderr)

        deeds = await app.repos.db.fetchval("SELECT COUNT(*) FROM deeds")
        if deeds != 2 * args.messages:
            result.errors.append(f"{deeds} deeds stored for {2 * args.messages} reports")

        zh, en = texts_for("zh-CN"), texts_for("en")
        poll = await app.repos.polls.create(
            org_id=branch,
            question="您对本村今年的村务公开满意吗？",
            options=zh.get("poll.default_options").split("/"),
            options_en=en.get("poll.default_options").split("/"),
            audience="public",
            opens_at=now,
            closes_at=now + timedelta(days=config.participation.poll_days),
            status="scheduled",
            now=now,
            source="bench:capacity",
        )
        reached: list[int] = []

        async def fan_out() -> None:
            reached.append(await open_poll(app.repos, poll, now, config.zone, config.bot.language))

        result.phases["poll_open"] = await meter.measure("poll_open", args.villagers, fan_out)
        if reached != [args.villagers]:
            result.errors.append(f"open_poll reached {reached}, expected {args.villagers}")
        opened = await app.repos.polls.get(poll.id)
        assert opened is not None

        batch = answers(args.villagers, args.messages, opened.options)
        silent = []

        async def answer() -> None:
            silent.extend(await through_router(app, batch, args.concurrency))

        result.phases["poll_answer"] = await meter.measure("poll_answer", len(batch), answer)
        if silent:
            result.errors.append(f"poll_answer: {len(silent)} messages got no reply")
        ballots = await app.repos.db.fetchval(
            "SELECT COUNT(*) FROM ballots WHERE poll_id = :p", {"p": poll.id}
        )
        sealed = await app.repos.polls.tally(opened)
        if sealed.total != len(batch):
            result.errors.append(f"tally counts {sealed.total} ballots, sent {len(batch)}")
        print(f"[{name}] ballots rows {ballots}", file=sys.stderr)

        pending = int(
            await app.repos.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        )
        fake = FakeSms(pending)
        phase = await meter.measure("dispatch", pending, lambda: dispatch_all(app, fake))
        phase.messages = fake.sends  # what was sent in the time, not what was pending
        result.phases["dispatch"] = phase
        if fake.sends < pending:
            print(f"[{name}] dispatch: {fake.sends} of {pending} in time", file=sys.stderr)

        result.sizes = await table_sizes(app, schema)
        if schema is not None:
            result.database_bytes = int(
                await app.repos.db.fetchval(
                    "SELECT SUM(pg_total_relation_size(c.oid))::bigint FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = :s AND c.relkind IN ('r', 'p')",
                    {"s": schema},
                )
            )
    finally:
        await app.close()
    if db_file is not None:
        result.database_bytes = sum(
            p.stat().st_size for p in db_file.parent.glob(db_file.name + "*")
        )
    return result


@contextmanager
def pg_schema(base: str) -> Iterator[tuple[str, str]]:
    import asyncpg

    schema = f"capacity_{uuid.uuid4().hex[:10]}"
    dsn = "postgresql://" + base.split("://", 1)[1]

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}", schema
    finally:
        asyncio.run(admin(f"DROP SCHEMA {schema} CASCADE"))


# --- Reporting -------------------------------------------------------------------------------


def measured_table(runs: list[EngineRun]) -> list[str]:
    lines = [
        "| engine | kind | msgs/s (1 worker, wall) | worker CPU ms/msg | PG CPU ms/msg"
        " | statements/msg | transactions/msg | rows written/msg | WAL bytes/msg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for p in run.phases.values():
            wal = "-" if p.wal_bytes is None else f"{p.per(p.wal_bytes):,.0f}"
            db = "-" if p.db_cpu is None else f"{p.per(p.db_cpu) * 1000:.3f}"
            lines.append(
                f"| {run.engine} | {p.name} | {p.rate:,.0f} | {p.per(p.worker_cpu) * 1000:.3f}"
                f" | {db} | {p.per(p.statements):.2f} | {p.per(p.transactions):.2f}"
                f" | {p.per(p.rows):.2f} | {wal} |"
            )
    return lines


def size_table(run: EngineRun) -> list[str]:
    lines = [
        "| table | rows | avg row bytes (pg_column_size) | bytes/row with indexes |",
        "|---|---:|---:|---:|",
    ]
    for table, rows, avg, total in sorted(run.sizes, key=lambda s: -s[1] * s[3]):
        if rows < SIZE_MIN_ROWS:
            continue  # a table of a few rows is all page overhead
        lines.append(f"| {table} | {rows:,} | {avg:,.0f} | {total:,.0f} |")
    return lines


def _number(cell: str) -> float | None:
    cell = cell.strip().replace(",", "")
    return None if cell in ("", "-") else float(cell)


def read_tables(text: str, engine_name: str = "postgresql") -> EngineRun:
    """The measured figures back from the two markdown tables above (printed by a run, or
    pasted into docs/scaling.md), so the projection is computed from exactly what they say."""
    run = EngineRun(engine_name)
    in_sizes = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == ["table", "rows"]:
            in_sizes = True
            continue
        if not line.startswith("|"):
            in_sizes = False
            continue
        if len(cells) == 9 and cells[0] == engine_name:
            rate, worker, db, st, tx, rows, wal = (_number(c) for c in cells[2:])
            assert rate and worker is not None and st is not None and tx is not None
            n = PROJECTED_PER_KIND
            run.phases[cells[1]] = Phase(
                cells[1],
                n,
                n / rate,
                round(st * n),
                round(tx * n),
                round((rows or 0) * n),
                None if wal is None else round(wal * n),
                worker / 1000 * n,
                None if db is None else db / 1000 * n,
            )
        elif in_sizes and len(cells) == 4 and cells[1][:1].isdigit():
            rows_n, avg, total = (_number(c) for c in cells[1:])
            assert rows_n is not None and avg is not None and total is not None
            run.sizes.append((cells[0], int(rows_n), avg, total))
    return run


# --- Projection ------------------------------------------------------------------------------
# The model of docs/scaling.md ("The model"): its assumptions are these constants, its
# measured inputs come from the PostgreSQL run (CPU time per message, WAL, bytes per row).


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    members: int
    villagers: int  # villagers on a roster (3.3 per member, as in the county of issue 15)
    poll: int  # the peak poll's audience: every villager of the unit (nation: of a province)
    broadcast: int  # the peak broadcast's audience: every member of the unit


SCALES = (
    Scale("county", 30_000, 100_000, 100_000, 30_000),
    Scale("province", 3_000_000, 10_000_000, 10_000_000, 3_000_000),
    Scale("nation", 78_000_000, 260_000_000, 10_000_000, 78_000_000),
)
DELIVERY_S = 3600.0  # a peak's messages all sent within an hour
ANSWER_SHARE = 0.5  # of a poll's audience answer, soon after their question arrives
REPLY_SHARE = 0.1  # of a broadcast's audience reply (收到, 好的, a question)
UTILISATION = 0.6  # plan cores at 60% busy at the peak
# A webhook's HTTP, form, signature check and TwiML reply: `serve`'s CPU per request in
# bench/sms_webhook.py (0.90 ms, SQLite) less the in-process report (0.34 ms), docs/scaling.md.
HTTP_CPU_MS = 0.55
OUT_PER_PERSON_MONTH = 6  # outbox rows: polls, notices, reminders, digests, broadcasts
IN_PER_PERSON_MONTH = 3  # message-log rows: answers, reports, replies
DEEDS_PER_MEMBER_MONTH = 2
SHORT_CODE_MPS = 100  # Twilio: a US short code; a long code 1 (10DLC), toll-free 3
TELEGRAM_BOT_MPS = 30  # Telegram: per bot, all chats together


@dataclass(frozen=True, slots=True)
class Need:
    scale: Scale
    peak: str
    sends: float  # messages/s leaving the outbox
    inbound: float  # webhooks/s arriving
    workers: int  # processes of one core each
    pg_cores: int
    statements: float  # per second at the peak
    wal_mb_s: float
    month_gb: float  # message log + outbox + deeds written per month
    roster_gb: float  # people, addresses, roles
    short_codes: int
    telegram_bots: int


def needs(pg: EngineRun) -> list[Need]:
    ph = pg.phases

    def cpu(kind: str) -> tuple[float, float, float, float]:
        """(worker s, PG s, statements, WAL bytes) per message of a kind."""
        p = ph[kind]
        return (
            p.per(p.worker_cpu),
            p.per(p.db_cpu or 0.0),
            p.per(p.statements),
            p.per(p.wal_bytes or 0),
        )

    answer, dispatch, fan_out = cpu("poll_answer"), cpu("dispatch"), cpu("poll_open")
    report = cpu("sms_report")  # a broadcast's replies cost about what a report costs
    size = {t: total for t, _, _, total in pg.sizes}
    people_b = sum(size.get(t, 0.0) for t in ("people", "addresses", "roles"))
    out: list[Need] = []
    for s in SCALES:
        for peak, audience in (("poll", s.poll), ("broadcast", s.broadcast)):
            sends = audience / DELIVERY_S
            inbound = sends * (ANSWER_SHARE if peak == "poll" else REPLY_SHARE)
            per_in = answer if peak == "poll" else report
            worker_s = inbound * (per_in[0] + HTTP_CPU_MS / 1000) + sends * (
                dispatch[0] + fan_out[0]
            )
            pg_s = inbound * per_in[1] + sends * (dispatch[1] + fan_out[1])
            people = s.members + s.villagers
            month = people * (
                # A row of the partitioned tables comes with its key's row (PostgreSQL).
                OUT_PER_PERSON_MONTH * (size.get("outbox", 0.0) + size.get("outbox_keys", 0.0))
                + IN_PER_PERSON_MONTH
                * (size.get("inbound_messages", 0.0) + size.get("inbound_keys", 0.0))
            ) + s.members * DEEDS_PER_MEMBER_MONTH * size.get("deeds", 0.0)
            out.append(
                Need(
                    s,
                    peak,
                    sends,
                    inbound,
                    max(1, math.ceil(worker_s / UTILISATION)),
                    max(1, math.ceil(pg_s / UTILISATION)),
                    inbound * per_in[2] + sends * (dispatch[2] + fan_out[2]),
                    (inbound * per_in[3] + sends * (dispatch[3] + fan_out[3])) / 1e6,
                    month / 1e9,
                    people * people_b / 1e9,
                    math.ceil(sends / SHORT_CODE_MPS),
                    math.ceil(sends / TELEGRAM_BOT_MPS),
                )
            )
    return out


def projection(pg: EngineRun) -> list[str]:
    lines = [
        "| unit | peak (audience) | sends/s | webhooks/s | worker cores | PG cores"
        " | statements/s | WAL MB/s | SMS short codes (100/s) or Telegram bots (30/s)"
        " | written per month | roster |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for n in needs(pg):
        audience = n.scale.poll if n.peak == "poll" else n.scale.broadcast
        lines.append(
            f"| {n.scale.name} | {n.peak} ({audience:,}) | {n.sends:,.0f} | {n.inbound:,.0f}"
            f" | {n.workers} | {n.pg_cores} | {n.statements:,.0f} | {n.wal_mb_s:.1f}"
            f" | {n.short_codes:,} or {n.telegram_bots:,} | {n.month_gb:,.1f} GB"
            f" | {n.roster_gb:,.1f} GB |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--villagers", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=4_000, help="per inbound kind")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--pg", default=os.environ.get("GRASSROOTS_TEST_PG_URL", PG_DEFAULT))
    parser.add_argument(
        "--project",
        type=Path,
        metavar="FILE",
        help="measure nothing: print the projection from the measured tables in FILE"
        " (docs/scaling.md)",
    )
    args = parser.parse_args()
    if args.project:
        print("\n".join(projection(read_tables(args.project.read_text(encoding="utf-8")))))
        return
    instrument()

    import uvloop  # serve's loop

    runs: dict[str, EngineRun] = {}
    for name in args.engines.split(","):
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
                path = Path(tmp) / "capacity.db"
                url = f"sqlite+aiosqlite:///{path}"
                runs[name] = uvloop.run(run_engine(name, url, None, args, path))
        elif name == "postgresql":
            with pg_schema(args.pg) as (url, schema):
                runs[name] = uvloop.run(run_engine(name, url, schema, args, None))
        else:
            raise SystemExit(f"unknown engine {name!r}")

    print(
        f"workload: {args.members} members ({args.members // 2} by SMS, the rest by Telegram)"
        f" in {BRANCHES} branches, {args.villagers} villagers; {args.messages} messages per"
        f" inbound kind, {args.concurrency} in flight; one process; {os.cpu_count()} CPUs"
        " (shared with other work: a loaded machine)"
    )
    printed = measured_table(list(runs.values()))
    print("\n## Measured: one worker, per message\n")
    print("\n".join(printed))
    for run in runs.values():
        if run.sizes:
            sizes = size_table(run)
            printed += ["", *sizes]
            print(f"\n## Measured: bytes per row ({run.engine}, after the run)\n")
            print("\n".join(sizes))
        print(f"\n{run.engine}: database {run.database_bytes / 1e6:,.1f} MB after the run")
        for phase in run.phases.values():
            top = sorted(phase.rows_by_table.items(), key=lambda kv: -kv[1])[:5]
            if top and run.engine == "postgresql":
                shown = ", ".join(f"{t} {n / phase.messages:.2f}" for t, n in top)
                print(f"  {phase.name}: rows/msg by table: {shown}")
    if "postgresql" in runs:
        print("\n## Projected from the PostgreSQL run (model: docs/scaling.md)\n")
        # From the printed (rounded) figures, as `--project docs/scaling.md` computes it.
        print("\n".join(projection(read_tables("\n".join(printed)))))

    errors = [f"{run.engine}: {e}" for run in runs.values() for e in run.errors]
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if "sqlite" in runs and "postgresql" in runs:
        ratio = runs["postgresql"].inbound_rate() / runs["sqlite"].inbound_rate()
        print(
            f"\ninbound kinds together: PostgreSQL {runs['postgresql'].inbound_rate():,.0f}/s,"
            f" SQLite {runs['sqlite'].inbound_rate():,.0f}/s"
        )
        print(f"bench capacity: ratio {ratio:.2f} (target {TARGET})")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
