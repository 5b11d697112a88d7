"""Scale-out benchmark: `grassroots serve` with 1 and 2 workers on PostgreSQL, against a bare
endpoint with the same number of workers, and against 1 worker on SQLite, in one run.

    python bench/scale.py [--requests 6000] [--members 2000] [--concurrency 64] [--pg URL]

The load is bench/sms_webhook.py's: pre-signed Twilio webhooks (about 90% deed reports from
the roster's members, 10% poll-style digit replies) over persistent HTTP/1.1 connections on
loopback, the same generator for every pass. The passes run one after the other:

    bare endpoint, 1 worker | serve on SQLite, 1 worker | serve on PostgreSQL, 1 worker
    bare endpoint, 2 workers | serve on PostgreSQL, 2 workers | serve on PostgreSQL, 1 worker

The two passes of PostgreSQL with 1 worker bracket the one with 2, so drift in the machine's
load shows as a gap between them, and the ratio uses their mean.

Each serve pass has a fresh database (a new schema on PostgreSQL) with the same roster and
a workload of its own (new MessageSids), and afterwards the database is read to check that
every message answered 200 was stored exactly once and handled. The bare endpoint with 2
workers runs under uvicorn's supervisor with a socket per worker (SO_REUSEPORT), as serve
does. Round trips per message come from bench/roundtrips.py. Ends with
`bench scale: ratio X (target 1.5)`: PostgreSQL with 2 workers over 1 worker. Also printed:
PostgreSQL over SQLite with 1 worker (target 0.8) and each serve pass's p99 (target 500 ms).

A machine with fewer free cores than workers + the load generator cannot show the scaling:
the line before the last says how many CPUs there were.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import webhook_load
from sms_webhook import (
    FROM_NUMBER,
    PUBLIC_URL,
    Workload,
    build_workload,
    check_storage,
    empty_twiml,
    recorded_check,
)
from webhook_load import (
    Run,
    Server,
    Stored,
    arg_parser,
    compare_stored,
    describe,
    free_port,
    load,
    print_stored,
    seed_roster,
    start_server,
    stop_server,
    wait_ready,
)

TARGET = 1.5  # two workers over one, PostgreSQL
PG_VS_SQLITE_TARGET = 0.8
P99_TARGET_S = 0.5
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
STOP_S = 30.0
REPO = Path(__file__).resolve().parent.parent


# --- The bare endpoint with N workers (runs in its own process) ------------------------------


def run_bare(port: int, workers: int) -> None:
    """sms_webhook.py's bare endpoint under uvicorn, with a socket per worker as serve has."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    sys.path.insert(0, str(REPO))
    from bot.serving import PortOfEachWorker
    from bot.web.app import listen

    config = uvicorn.Config(
        "sms_webhook:bare_app",
        loop="uvloop",
        http="httptools",
        log_level="warning",
        log_config=None,
        workers=workers,
    )
    sock = listen("127.0.0.1", port, kind=PortOfEachWorker, reuse_port=True)
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()


# --- Processes and sockets ---------------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU of a process and its children (the supervisor's workers), Linux /proc."""
    total = webhook_load_cpu(pid)
    if total is None:
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        total += tree_cpu_seconds(int(child)) or 0.0
    return total


webhook_load_cpu = webhook_load.cpu_seconds
webhook_load.cpu_seconds = tree_cpu_seconds  # load() reports the server's CPU: all workers


def listeners(port: int) -> int:
    """Sockets listening on `port` (one per worker with SO_REUSEPORT)."""
    hex_port = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            count += fields[1].endswith(hex_port) and fields[3] == "0A"  # 0A: LISTEN
    return count


async def ready(server: Server, workers: int) -> None:
    """Answering, and every worker listening: a connection opened before a worker listens
    goes to the others, and stays there for the whole pass."""
    await wait_ready(server)
    deadline = time.monotonic() + webhook_load.STARTUP_S
    while listeners(server.port) < workers:
        if time.monotonic() > deadline:
            raise SystemExit(f"{server.name}: {listeners(server.port)}/{workers} listening")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # the last worker's start-up settles


# --- PostgreSQL --------------------------------------------------------------------------------


def plain(url: str) -> str:
    """asyncpg's DSN for the bench's own connections (the URL's settings are serve's)."""
    return "postgresql://" + url.split("://", 1)[1].split("?", 1)[0]


async def pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(plain(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def pg_stored(url: str, schema: str, work: Workload, run: Run) -> Stored:
    import asyncpg

    conn = await asyncpg.connect(plain(url), server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT m.provider_id, m.status, COUNT(d.id) FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'sms' GROUP BY m.id"
        )
    finally:
        await conn.close()
    return compare_stored([tuple(r) for r in rows], work.sids, work.is_deed, run)


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


async def round_trips_per_message(url: str) -> dict[str, float]:
    """Statements per inbound message by kind, on a fresh database (bench/roundtrips.py)."""
    from roundtrips import round_trips_async  # type: ignore[import-not-found]

    return {k: v for k, v in (await round_trips_async(url)).items() if ":" not in k}


# --- The run -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.token = secrets.token_hex(16)
        self.account = "AC" + secrets.token_hex(16)
        self.config = tmp / "config.toml"
        self.config.write_text(
            f'[twilio]\naccount_sid = "{self.account}"\nfrom_number = "{FROM_NUMBER}"\n'
            f'public_url = "{PUBLIC_URL}"\n\n[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRASSROOTS_", "TWILIO_"))}
        self.env = env | {"TWILIO_AUTH_TOKEN": self.token, "GRASSROOTS_SECRET_KEY": "bench-key"}
        self.cli = [sys.executable, "-m", "bot", "--config", str(self.config)]
        self.bare_work = self.workload()

    def workload(self) -> Workload:
        return build_workload(self.args.requests, self.args.members, self.account, self.token)

    async def bare(self, workers: int) -> Run:
        port = free_port()
        argv = [sys.executable, __file__, "--bare-server", str(port), "--workers", str(workers)]
        name = f"bare endpoint, {workers} worker{'s' * (workers > 1)}"
        server = start_server(name, argv, self.env, self.tmp, port)
        try:
            await ready(server, workers)
            return await self.drive(name, server, self.bare_work, empty_twiml)
        finally:
            stop_server(server, STOP_S)

    async def serve(self, name: str, url: str, workers: int) -> tuple[Run, Workload, Server]:
        env = self.env | {"GRASSROOTS_DATABASE_URL": url}
        seed_roster(self.tmp, self.args.members, self.cli, env)
        work = self.workload()
        port = free_port()
        argv = [*self.cli, "serve", "--port", str(port), "--workers", str(workers)]
        server = start_server(name, argv, env, self.tmp, port)
        try:
            await ready(server, workers)
            run = await self.drive(name, server, work, recorded_check(work))
        finally:
            stop_server(server, STOP_S)
        return run, work, server

    async def drive(self, name: str, server: Server, work: Workload, check) -> Run:
        args = self.args
        return await load(name, server, work.requests, args.concurrency, args.time_limit, check)


async def main_async(args: argparse.Namespace, tmp: Path) -> int:
    bench = Bench(args, tmp)
    tag = secrets.token_hex(4)
    schemas = [f"bench_scale_{tag}_{n}" for n in (1, 2, 3, 4)]
    for schema in schemas:
        await pg_admin(args.pg, f"CREATE SCHEMA {schema}")
    try:
        sqlite_db = tmp / "bench.db"
        bare1 = await bench.bare(1)
        sqlite1, sqlite_work, sqlite_server = await bench.serve(
            "serve, SQLite, 1 worker", f"sqlite+aiosqlite:///{sqlite_db}", 1
        )
        pg1, pg1_work, pg1_server = await bench.serve(
            "serve, PostgreSQL, 1 worker", with_schema(args.pg, schemas[0]), 1
        )
        bare2 = await bench.bare(2)
        pg2, pg2_work, pg2_server = await bench.serve(
            "serve, PostgreSQL, 2 workers", with_schema(args.pg, schemas[1]), 2
        )
        pg1b, pg1b_work, pg1b_server = await bench.serve(
            "serve, PostgreSQL, 1 worker, pass 2", with_schema(args.pg, schemas[3]), 1
        )
        stored = {
            sqlite1.name: check_storage(sqlite_db, sqlite_work, sqlite1),
            pg1.name: await pg_stored(args.pg, schemas[0], pg1_work, pg1),
            pg2.name: await pg_stored(args.pg, schemas[1], pg2_work, pg2),
            pg1b.name: await pg_stored(args.pg, schemas[3], pg1b_work, pg1b),
        }
        trips = await round_trips_per_message(with_schema(args.pg, schemas[2]))
    finally:
        for schema in schemas:
            await pg_admin(args.pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    count = args.requests
    print(
        f"requests: {count} signed webhooks per pass, {args.concurrency} keep-alive connections "
        f"over loopback, {args.members} members; {os.cpu_count()} CPUs shared with the load "
        "generator (and, on a shared machine, with whatever else runs)"
    )
    for run in (bare1, sqlite1, pg1, bare2, pg2, pg1b):
        print(describe(run, count))
    for name, result in stored.items():
        print(f"{name}:")
        print_stored(result, "provider ids")
    if trips:
        print(
            "round trips per message (PostgreSQL): "
            + ", ".join(f"{kind} {n:.1f}" for kind, n in sorted(trips.items()))
        )
    one = (pg1.rate + pg1b.rate) / 2  # PostgreSQL, 1 worker: the mean of the two passes
    print(
        f"vs bare with the same workers: 1 worker {one / bare1.rate:.2f}, "
        f"2 workers {pg2.rate / bare2.rate:.2f}; bare 2/1 workers {bare2.rate / bare1.rate:.2f}"
    )
    pg_vs_sqlite = pg1.rate / sqlite1.rate  # the passes next to each other
    print(
        f"PostgreSQL / SQLite, 1 worker: {pg1.rate:,.0f} / {sqlite1.rate:,.0f} = "
        f"{pg_vs_sqlite:.2f} (target {PG_VS_SQLITE_TARGET})"
    )
    p99s = ", ".join(
        f"{run.name} {run.percentile(0.99) * 1000:.0f} ms" for run in (sqlite1, pg1, pg2, pg1b)
    )
    print(f"p99: {p99s} (target < {P99_TARGET_S * 1000:.0f} ms)")
    failures = [
        f"{name}: a message answered 200 was not stored exactly once, or not handled"
        for name, result in stored.items()
        if not result.exact or result.unhandled or result.wrong_deeds
    ]
    failures += [
        f"{run.name}: {run.bad_replies} deed reports answered without the recorded reply"
        for run in (sqlite1, pg1, pg2, pg1b)
        if run.bad_replies
    ]
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    servers = ((sqlite_server, sqlite1), (pg1_server, pg1), (pg2_server, pg2), (pg1b_server, pg1b))
    for server, result in servers:
        if failures and result.bad_replies:
            print(f"{server.name} log tail:\n{server.tail()}", file=sys.stderr)
    ratio = pg2.rate / one
    print(
        f"two workers / one (PostgreSQL): {pg2.rate:,.0f} / {one:,.0f} req/s (mean of "
        f"{pg1.rate:,.0f} and {pg1b.rate:,.0f}); {os.cpu_count()} CPUs"
    )
    print(f"bench scale: ratio {ratio:.2f} (target {TARGET})")
    return 1 if failures else 0


def main() -> None:
    parser = arg_parser(__doc__)
    parser.set_defaults(requests=6_000)
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pg",
        default=os.environ.get("GRASSROOTS_TEST_POSTGRES_URL", PG_DEFAULT),
        help="PostgreSQL URL (a schema is created and dropped per pass)",
    )
    args = parser.parse_args()
    if args.bare_server:
        run_bare(args.bare_server, args.workers)
        return

    import uvloop  # the load generator's loop, as in the other webhook benchmarks

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        sys.exit(uvloop.run(main_async(args, Path(tmp))))


if __name__ == "__main__":
    main()
