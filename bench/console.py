"""Console overview benchmark: a county's /console/o/<code> under `grassroots serve` vs a bare
Starlette endpoint, over HTTP, in one run.

    python bench/console.py [--requests 2000] [--concurrency 8] [--database-url URL]

The county: 10 townships, 200 branches, 6,000 members, 200,000 deeds over twenty weeks
(some branches silent for three weeks), a closed poll per branch with its participants,
commitments (some overdue). The roster goes in through the real import; the rest is seeded
with executemany. A console session for the county's leader is opened in storage and its
signed cookie sent with every request.

The overview counts a subtree's deeds at most once a minute per organisation (its
ActivityCache); the cost of a count, what a request that misses the cache adds, is timed
in-process after seeding (`--cold` times). Then two servers run as subprocesses under the
same uvicorn settings (uvloop, httptools, one worker, log level warning): `grassroots serve`
(SQLite by default) and a bare Starlette app (this file, `--bare-server PORT`) answering a
small fixed HTML page on the same path. First one request at a time to the overview (its
time as served, loopback included), then the same load to each in the order bare,
overview, bare (the bare passes bracket the overview, so drift in machine load shows as a
gap between them; the ratio uses their mean).
Ends with `bench console: ratio X (target 0.1)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from webhook_load import (
    Run,
    Server,
    describe,
    free_port,
    load,
    run_server,
    start_server,
    stop_server,
    wait_ready,
)

TARGET = 0.1
SERVER_TIME_TARGET_S = 0.2
TOWNSHIPS, BRANCHES, MEMBERS, DEEDS = 10, 200, 6_000, 200_000
WEEKS_OF_DEEDS = 20
SILENT_EVERY = 9  # every ninth branch has reported nothing for three weeks
SECRET = "bench-console-secret-key"
LEADER_PHONE = "13700000001"
PATH = "/console/o/HX"
STOP_S = 20.0
BARE_PAGE = b"<!doctype html><title>ok</title><p>asleep-head</p>"
OVERVIEW_MARK = b'class="asleep-head'  # the overview's headline: a real page was rendered


# --- The bare endpoint (runs in its own process) ----------------------------------------


def bare_app() -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(BARE_PAGE)

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", healthz), Route("/console/o/{code}", page)])


# --- The county ------------------------------------------------------------------------------


def write_roster(tmp: Path) -> tuple[Path, Path]:
    orgs, people = tmp / "orgs.csv", tmp / "people.csv"
    lines = ["code,name,kind,parent_code,theme", "HX,和兴县委,county,,"]
    for t in range(TOWNSHIPS):
        lines.append(f"HX{t:02d},第{t}镇党委,township,HX,")
    for b in range(BRANCHES):
        lines.append(f"HX{b % TOWNSHIPS:02d}{b:03d},第{b}村党支部,branch,HX{b % TOWNSHIPS:02d},")
    orgs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ["org_code,name,phone,role", f"HX,县委书记,{LEADER_PHONE},leader"]
    for i in range(MEMBERS):
        b = i % BRANCHES
        role = "secretary" if i < BRANCHES else "member"
        rows.append(f"HX{b % TOWNSHIPS:02d}{b:03d},党员{i},138{i:08d},{role}")
    people.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return orgs, people


# What a migration could add: migration 0017 indexes deeds by (org_id, local_day,
# person_id), which the reporters per week read alone; with the category too, the category
# mix would read the index alone as well.
COVERING_INDEX = (
    "CREATE INDEX bench_deeds_covering ON deeds (org_id, local_day, person_id, category)"
)


async def seed(
    database_url: str, tmp: Path, covering_index: bool, cold: int
) -> tuple[str, list[float]]:
    """The county in the database; the console cookie of its leader, and the seconds the
    overview's figures take to count afresh (`cold` times, no cache: what a request that
    misses the cache adds)."""
    from bot.app import App
    from bot.config import load_config
    from bot.roster import import_orgs, import_people
    from bot.texts import texts_for
    from bot.web.console.access import IDLE, cookie_value
    from bot.web.console.overview import overview_data
    from storage.models import CATEGORIES

    config = load_config(
        tmp / "config.toml",
        env={"GRASSROOTS_DATABASE_URL": database_url, "GRASSROOTS_SECRET_KEY": SECRET},
    )
    app = await App.open(config)
    try:
        now = datetime.now(UTC)
        orgs_csv, people_csv = write_roster(tmp)
        await import_orgs(app.repos, orgs_csv, now)
        await import_people(app.repos, people_csv, now)
        db = app.repos.db
        branches = await db.fetch(
            "SELECT id, code FROM organisations WHERE kind = 'branch' ORDER BY code"
        )
        members: dict[int, list[int]] = {}
        for r in await db.fetch(
            "SELECT org_id, person_id FROM roles WHERE role IN ('member', 'secretary')"
        ):
            members.setdefault(int(r["org_id"]), []).append(int(r["person_id"]))
        zone = ZoneInfo(config.bot.timezone)
        today = now.astimezone(zone).date()
        rng = random.Random(7)
        categories = [c.value for c in CATEGORIES] + [None]
        silent = {int(b["id"]) for n, b in enumerate(branches) if n % SILENT_EVERY == 0}
        ids = [int(b["id"]) for b in branches]
        deeds = []
        for n in range(DEEDS):
            org = ids[n % len(ids)]
            back = rng.randrange(WEEKS_OF_DEEDS * 7)
            if org in silent and back < 21:
                back += 21
            day = today - timedelta(days=back)
            deeds.append(
                {
                    "p": rng.choice(members[org]),
                    "o": org,
                    "c": rng.choice(categories),
                    "b": f"汇报 {n}",
                    "d": day,
                    "t": now - timedelta(days=back),
                }
            )
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO deeds (person_id, org_id, category, body, local_day, created_at) "
                "VALUES (:p, :o, :c, :b, :d, :t)",
                deeds,
            )
            await tx.executemany(
                "INSERT INTO commitments (org_id, person_id, body, due_on, status, created_at, "
                "published_at) VALUES (:o, :p, :b, :due, 'open', :t, :t)",
                [
                    {
                        "o": org,
                        "p": members[org][0],
                        "b": "修好村口路灯",
                        "due": today + timedelta(days=-3 if k % 5 == 0 else 10),
                        "t": now - timedelta(days=30),
                    }
                    for k, org in enumerate(ids)
                ],
            )
            await tx.executemany(
                "INSERT INTO polls (org_id, question, options, audience, opens_at, closes_at, "
                "status, allow_change, position, audience_size, created_at) VALUES (:o, "
                "'满意吗', '[\"满意\", \"不满意\"]', 'members', :opens, :closes, 'closed', "
                ":yes, 0, :size, :opens)",
                [
                    {
                        "o": org,
                        "opens": now - timedelta(days=10),
                        "closes": now - timedelta(days=3),
                        "size": len(members[org]),
                        "yes": True,
                    }
                    for org in ids
                ],
            )
        if covering_index:
            await db.execute(COVERING_INDEX)
        polls = await db.fetch("SELECT id, org_id FROM polls")
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO poll_participants (poll_id, person_id) VALUES (:poll, :p)",
                [
                    {"poll": int(p["id"]), "p": person}
                    for k, p in enumerate(polls)
                    # every seventh branch: two answers of thirty, under the floor
                    for person in members[int(p["org_id"])][: 2 if k % 7 == 0 else 20]
                ],
            )
        leader = await db.fetchval(
            "SELECT person_id FROM addresses WHERE value = :v", {"v": "+86" + LEADER_PHONE}
        )
        token, _ = await app.repos.console_sessions.open(int(leader), now, IDLE)
        county = await app.repos.orgs.by_code("HX")
        assert county is not None
        texts, times = texts_for("zh-CN"), []
        for _ in range(cold):
            start = time.perf_counter()
            await overview_data(app, county, texts)
            times.append(time.perf_counter() - start)
        return cookie_value(app.router.settings.secret_key, token), times
    finally:
        await app.close()


# --- Requests ------------------------------------------------------------------------------


def request(cookie: str) -> bytes:
    from bot.web.console.access import COOKIE

    return (
        f"GET {PATH} HTTP/1.1\r\nHost: console.example.org\r\n"
        "Accept: text/html\r\nAccept-Language: zh-CN,zh;q=0.9\r\n"
        f"Cookie: {COOKIE}={cookie}\r\n\r\n"
    ).encode()


def not_overview(n: int, body: bytes) -> bool:
    return OVERVIEW_MARK not in body


def not_bare(n: int, body: bytes) -> bool:
    return body != BARE_PAGE


async def drive(
    bare: Server,
    serve: Server,
    one: bytes,
    count: int,
    alone_count: int,
    concurrency: int,
    time_limit: float,
) -> tuple[Run, list[Run]]:
    await asyncio.gather(wait_ready(bare), wait_ready(serve))
    # Warm both (templates compiled, connections to the database open), then one at a time:
    # the overview's own time, nothing queued in front of it.
    await load("warm-up", serve, [one] * 20, 4, time_limit, not_overview)
    await load("warm-up", bare, [one] * 20, 4, time_limit, not_bare)
    alone = await load(
        "overview, one at a time", serve, [one] * alone_count, 1, time_limit, not_overview
    )
    runs = []
    for name, server, bad in (
        ("bare endpoint, pass 1", bare, not_bare),
        ("grassroots serve overview", serve, not_overview),
        ("bare endpoint, pass 2", bare, not_bare),
    ):
        runs.append(await load(name, server, [one] * count, concurrency, time_limit, bad))
    return alone, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--alone", type=int, default=200, help="requests one at a time")
    parser.add_argument("--cold", type=int, default=30, help="counts afresh, in-process")
    parser.add_argument(
        "--covering-index", action="store_true", help="add " + COVERING_INDEX.split(" ON ")[1]
    )
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per pass")
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_server(bare_app(), args.bare_server)  # type: ignore[arg-type]
        return

    import uvloop

    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp_name:
        tmp = Path(tmp_name)
        database_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        (tmp / "config.toml").write_text(
            '[scheduler]\nenabled = false\n\n[log]\nlevel = "WARNING"\n', encoding="utf-8"
        )
        cookie, cold = uvloop.run(seed(database_url, tmp, args.covering_index, args.cold))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRASSROOTS_", "TWILIO_"))}
        env |= {"GRASSROOTS_DATABASE_URL": database_url, "GRASSROOTS_SECRET_KEY": SECRET}
        cli = [sys.executable, "-m", "bot", "--config", str(tmp / "config.toml")]
        servers: list[Server] = []
        try:
            serve_port, bare_port = free_port(), free_port()
            serve = [*cli, "serve", "--port", str(serve_port)]
            bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
            servers.append(start_server("grassroots serve", serve, env, tmp, serve_port))
            servers.append(start_server("bare endpoint", bare, env, tmp, bare_port))
            alone, runs = uvloop.run(
                drive(
                    servers[1],
                    servers[0],
                    request(cookie),
                    args.requests,
                    args.alone,
                    args.concurrency,
                    args.time_limit,
                )
            )
        finally:
            for server in servers:
                stop_server(server, STOP_S)
        serve_log = servers[0].tail()

    bare1, overview, bare2 = runs
    bare_rate = (bare1.rate + bare2.rate) / 2
    ratio = overview.rate / bare_rate
    dialect = database_url.split(":", 1)[0]
    print(
        f"county: {TOWNSHIPS} townships, {BRANCHES} branches, {MEMBERS:,} members, {DEEDS:,} "
        f"deeds over {WEEKS_OF_DEEDS} weeks ({dialect}"
        f"{', covering index on deeds' if args.covering_index else ''}); "
        f"GET {PATH} as the county's leader; "
        f"{args.requests} requests on {args.concurrency} keep-alive connections, "
        f"{os.cpu_count()} CPUs"
    )
    print(describe(alone, len(alone.statuses)))
    for run in runs:
        print(describe(run, args.requests))
    median, p99 = alone.percentile(0.5), alone.percentile(0.99)
    cold.sort()
    cold_p99 = cold[max(0, -(-99 * len(cold) // 100) - 1)]
    print(
        f"overview server time, counted afresh (a cache miss: the figures of {BRANCHES} "
        f"branches, in-process, {len(cold)} times): median {statistics.median(cold) * 1000:.1f}"
        f" ms, p99 {cold_p99 * 1000:.1f} ms (target < {SERVER_TIME_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"overview server time, served (one at a time over loopback, figures counted at most "
        f"once a minute): median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )
    print(
        f"requests/s: overview {overview.rate:,.1f}, bare {bare_rate:,.0f} (mean of the bare "
        f"passes); ratio {ratio:.3f}"
    )
    failures = [run.name for run in (alone, *runs) if run.bad_replies or run.answered < 1]
    for name in failures:
        print(f"ERROR: {name}: answers that are not the expected page", file=sys.stderr)
    if failures and serve_log:
        print(f"server log tail:\n{serve_log}", file=sys.stderr)
    print(f"bench console: ratio {ratio:.3f} (target {TARGET})")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
