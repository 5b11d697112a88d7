"""Public page benchmark: `/o/<code>` of a big branch under `grassroots serve` on SQLite vs a
bare Starlette endpoint, over HTTP.

    python bench/web_pages.py [--requests 20000] [--concurrency 64]

The branch has 2,000 villagers, 200 members, 20,000 deeds and 20 closed polls (about a
thousand answers each), seeded with executemany straight into a migrated database, not
through the router. Two servers run as subprocesses under the same uvicorn settings (uvloop,
httptools, one worker): `grassroots serve` and a bare Starlette app (this file,
`--bare-server PORT`) answering a fixed page of the same size from memory. The same GETs go to
each over loopback on keep-alive connections (bench/webhook_load.py's generator), in the order
bare, page, bare; the ratio uses the mean of the bare passes.

Also printed: the page's server time, built from scratch (median and p99 of sequential
builds in this process, the micro-cache bypassed: what a reader waits for once every few
seconds), and its weight in bytes (HTML + the stylesheet, raw and gzipped). The served page
is kept for CACHE_SECONDS (bot/web/public/org.py), so the load measures mostly the cached
path. Ends with `bench web_pages: ratio X (target 0.3)`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webhook_load import (
    Server,
    arg_parser,
    free_port,
    load,
    report_passes,
    run_server,
    start_server,
    stop_server,
    wait_ready,
)

TARGET = 0.3
CODE = "B01"
VILLAGERS = 2_000
MEMBERS = 200
DEEDS = 20_000
POLLS = 20
BUILDS = 50  # sequential page builds for the server time
STOP_S = 20.0
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CATEGORIES = ("study", "achievement", "service", "discipline", "integrity", None)


# --- The bare endpoint (runs in its own process) --------------------------------------------


def bare_app(page: bytes) -> object:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def org(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/healthz", healthz), Route("/o/{code:str}", org)])


# --- Seeding -------------------------------------------------------------------------------


async def seed(url: str) -> None:
    """A county, a township, the big branch and a few small ones; its people, deeds,
    published commitments and closed polls with their published ballots."""
    from storage.repositories import open_repositories

    repos = await open_repositories(url)
    db = repos.db
    rng = random.Random(7)
    try:
        async with db.transaction() as tx:
            orgs = [
                {"id": 1, "code": "B", "name": "县委", "kind": "county", "parent": None},
                {"id": 2, "code": "B0", "name": "镇党委", "kind": "township", "parent": 1},
                *(
                    {
                        "id": 3 + b,
                        "code": f"B{b:02d}",
                        "name": f"村{b}党支部",
                        "kind": "branch",
                        "parent": 2,
                    }
                    for b in range(10)
                ),
            ]
            await tx.executemany(
                "INSERT INTO organisations (id, code, name, kind, parent_id, theme, created_at) "
                "VALUES (:id, :code, :name, :kind, :parent, '脱贫致富', :now)",
                [{**o, "now": NOW} for o in orgs],
            )
            branch = 4  # B01
            people = [
                {"id": i + 1, "name": f"{'党员' if i < MEMBERS else '群众'}{i}", "now": NOW}
                for i in range(MEMBERS + VILLAGERS)
            ]
            await tx.executemany(
                "INSERT INTO people (id, name, created_at) VALUES (:id, :name, :now)", people
            )
            await tx.executemany(
                "INSERT INTO addresses (person_id, kind, value, created_at) "
                "VALUES (:id, 'sms', :phone, :now)",
                [{"id": p["id"], "phone": f"+86138{p['id']:08d}", "now": NOW} for p in people],
            )
            await tx.executemany(
                "INSERT INTO roles (person_id, org_id, role, created_at) "
                "VALUES (:id, :org, :role, :now)",
                [
                    {
                        "id": p["id"],
                        "org": branch,
                        "role": ("secretary" if p["id"] == 1 else "member")
                        if p["id"] <= MEMBERS
                        else "public",
                        "now": NOW,
                    }
                    for p in people
                ],
            )
            today = NOW.date()
            await tx.executemany(
                "INSERT INTO deeds (person_id, org_id, category, body, local_day, created_at) "
                "VALUES (:p, :org, :cat, :body, :day, :now)",
                [
                    {
                        "p": 1 + n % MEMBERS,
                        "org": branch,
                        "cat": CATEGORIES[n % len(CATEGORIES)],
                        "body": f"走访困难户，帮忙修水渠 {n}",
                        "day": today - timedelta(days=n % 365),
                        "now": NOW,
                    }
                    for n in range(DEEDS)
                ],
            )
            await tx.executemany(
                "INSERT INTO commitments (org_id, person_id, body, due_on, status, created_at, "
                "published_at, done_at) VALUES (:org, :p, :body, :due, :status, :now, :now, :done)",
                [
                    {
                        "org": branch,
                        "p": 1 + n,
                        "body": f"年底前帮扶困难户{n % 5 + 1}户",
                        "due": today + timedelta(days=n - 20),
                        "status": "done" if n % 3 == 0 else "open",
                        "now": NOW - timedelta(days=40),
                        "done": NOW - timedelta(days=n % 30) if n % 3 == 0 else None,
                    }
                    for n in range(MEMBERS // 4)
                ],
            )
            options = json.dumps(["满意", "基本满意", "不满意"], ensure_ascii=False)
            for k in range(POLLS):
                closes = NOW - timedelta(days=7 * k + 1)
                poll_id = await tx.fetchval(
                    "INSERT INTO polls (org_id, question, options, audience, opens_at, "
                    "closes_at, status, created_at, audience_size, results_sent_at) "
                    "VALUES (:org, :q, :options, 'public', :opens, :closes, 'closed', :opens, "
                    ":size, :closes) RETURNING id",
                    {
                        "org": branch,
                        "q": f"第{k + 1}次评议：村里的工作满意吗？",
                        "options": options,
                        "opens": closes - timedelta(days=5),
                        "closes": closes,
                        "size": VILLAGERS,
                    },
                )
                voters = rng.sample(range(MEMBERS + 1, MEMBERS + VILLAGERS + 1), 1_000)
                await tx.executemany(
                    "INSERT INTO ballots (poll_id, voter, choice, org_id) "
                    "VALUES (:poll, :voter, :choice, :org)",
                    [
                        {
                            "poll": poll_id,
                            "voter": f"{poll_id}:{v}",
                            "choice": rng.choices((0, 1, 2), (6, 3, 1))[0],
                            "org": branch,
                        }
                        for v in voters
                    ],
                )
                await tx.executemany(
                    "INSERT INTO poll_participants (poll_id, person_id) VALUES (:poll, :p)",
                    [{"poll": poll_id, "p": v} for v in voters],
                )
    finally:
        await db.close()


# --- The page's server time and weight -------------------------------------------------------


async def build_times(config_path: Path) -> tuple[list[float], bytes, bytes]:
    """Build the page BUILDS times from scratch in this process (data and HTML, as the
    view does on a cache miss); the seconds each took, the page and the JSON twin."""
    import httpx

    from bot.clock import FixedClock
    from bot.config import load_config
    from bot.web.app import create_web_app
    from bot.web.public import org

    org.CACHE_SECONDS = 0  # every request builds the page
    web = create_web_app(load_config(config_path), FixedClock(NOW), with_scheduler=False)
    times = []
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get(f"/o/{CODE}")  # templates compiled, caches warm: not timed
            for _ in range(BUILDS):
                start = time.perf_counter()
                html = await client.get(f"/o/{CODE}")
                times.append(time.perf_counter() - start)
                assert html.status_code == 200, html.text[:500]
            twin = await client.get(f"/o/{CODE}.json")
    return times, html.content, twin.content


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


# --- Run -----------------------------------------------------------------------------------


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/html\r\n\r\n".encode()


async def drive(
    bare: Server, served: Server, requests: list[bytes], concurrency: int, limit: float
) -> list:  # type: ignore[type-arg]
    await asyncio.gather(wait_ready(bare), wait_ready(served))

    def not_a_page(n: int, body: bytes) -> bool:
        return b"</html>" not in body

    runs = []
    for name, server in (
        ("bare Starlette endpoint, pass 1", bare),
        (f"grassroots serve /o/{CODE}", served),
        ("bare Starlette endpoint, pass 2", bare),
    ):
        runs.append(await load(name, server, requests, concurrency, limit, not_a_page))
    return runs


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--page", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_server(bare_app(Path(args.page).read_bytes()), args.bare_server)  # type: ignore[arg-type]
        return

    import uvloop

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.db"
        url = f"sqlite+aiosqlite:///{db}"
        config = tmp / "config.toml"
        config.write_text(
            '[scheduler]\nenabled = false\n\n[log]\nlevel = "WARNING"\n', encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRASSROOTS_", "TWILIO_"))}
        env |= {"GRASSROOTS_DATABASE_URL": url, "GRASSROOTS_SECRET_KEY": "b" * 64}
        os.environ.update({"GRASSROOTS_DATABASE_URL": url, "GRASSROOTS_SECRET_KEY": "b" * 64})
        started = time.perf_counter()
        asyncio.run(seed(url))
        seeded = time.perf_counter() - started
        times, html, twin = asyncio.run(build_times(config))
        page_file = tmp / "page.html"
        page_file.write_bytes(html)
        css = (Path(__file__).parents[1] / "bot" / "web" / "static" / "site.css").read_bytes()

        requests = [request(f"/o/{CODE}")] * args.requests
        servers: list[Server] = []
        try:
            served_port, bare_port = free_port(), free_port()
            cli = [sys.executable, "-m", "bot", "--config", str(config)]
            serve = [*cli, "serve", "--port", str(served_port)]
            bare = [
                sys.executable,
                __file__,
                "--bare-server",
                str(bare_port),
                "--page",
                str(page_file),
            ]
            servers.append(start_server("grassroots serve", serve, env, tmp, served_port))
            servers.append(start_server("bare endpoint", bare, env, tmp, bare_port))
            runs = uvloop.run(
                drive(servers[1], servers[0], requests, args.concurrency, args.time_limit)
            )
        finally:
            for server in servers:
                stop_server(server, STOP_S)
        served_log = servers[0].tail()

    print(
        f"branch {CODE}: {VILLAGERS} villagers, {MEMBERS} members, {DEEDS} deeds, {POLLS} "
        f"closed polls of 1,000 answers (seeded in {seeded:.1f} s); {args.requests} GETs over "
        f"{args.concurrency} keep-alive connections on loopback, {os.cpu_count()} CPUs"
    )
    print(
        f"page server time, built from scratch ({BUILDS} sequential builds in-process, cache "
        f"off): median {statistics.median(times) * 1000:.1f} ms, "
        f"p99 {percentile(times, 0.99) * 1000:.1f} ms"
    )
    print(
        f"page weight: HTML {len(html):,} B ({len(gzip.compress(html)):,} B gzipped) + CSS "
        f"{len(css):,} B ({len(gzip.compress(css)):,} B gzipped) = {len(html) + len(css):,} B; "
        f"JSON twin {len(twin):,} B"
    )
    ratio = report_passes(runs, args.requests, TARGET, None)
    bad = sum(run.bad_replies for run in runs)
    if bad:
        print(f"ERROR: {bad} answers were not a whole page", file=sys.stderr)
        print(f"server log tail:\n{served_log}", file=sys.stderr)
    print(f"bench web_pages: ratio {ratio:.2f} (target {TARGET})")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
