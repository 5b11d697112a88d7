"""How live the browser sandbox is: a secretary's 通知 from one tab to a member's open tab.

    python bench/sandbox_live.py [--notices 20] [--database sqlite|POSTGRESQL_URL]

`serve`'s web app (uvicorn on loopback, its outbox dispatcher running, the sandbox's SMS
channel) over the demo county on a fresh SQLite file (or a new schema, dropped at the end,
in the PostgreSQL database given). Chromium from the system (Playwright) opens two tabs of
one phone-sized context: the member's and the secretary's. The secretary sends --notices
notices one after the other; for each, two times from the moment the secretary's page has
the bot's acknowledgement: until the outbox row to the member is marked sent (the server's
part), and until the member's tab shows the notice (the server's part plus the tab's
1-second polling). Then the cost of one poll of an unchanged thread (the 304 every open tab
asks for each second), over 200 polls. Ends with
`bench sandbox_live: median X s (p90 Y s)`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import uvicorn

from bot.config import load_config
from bot.roster import import_orgs, import_people
from bot.web.app import create_web_app

MEMBER, SECRETARY = "+8613800001101", "+8613800001100"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def main(notices: int, database: str) -> int:
    from importlib import resources

    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium on PATH", file=sys.stderr)
        return 1
    folder = Path(tempfile.mkdtemp(prefix="sandbox-live-"))
    schema = None
    if database == "sqlite":
        url_db = f"sqlite+aiosqlite:///{folder}/bench.db"
    else:  # a schema of its own, dropped at the end: the database may be shared
        schema = f"bench_sandbox_{uuid.uuid4().hex[:8]}"
        await _admin(database, f"CREATE SCHEMA {schema}")
        url_db = f"{database}{'&' if '?' in database else '?'}search_path={schema}"
    # Twenty notices a day from one secretary: more than [participation] allows by default.
    (folder / "config.toml").write_text(
        '[outbox]\nquiet_hours = ""\n[participation]\nnotices_per_day = 200\n'
    )
    env = {"GRASSROOTS_DATABASE_URL": url_db, "GRASSROOTS_SECRET_KEY": "bench-" + "k" * 32}
    config = load_config(folder / "config.toml", env=env)
    web = create_web_app(config, with_scheduler=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raise what stopped it
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    app = web.state.bot
    data = resources.files("bot") / "demo"
    with (
        resources.as_file(data / "orgs.csv") as orgs,
        resources.as_file(data / "people.csv") as people,
    ):
        await import_orgs(app.repos, orgs, app.clock.now())
        await import_people(app.repos, people, app.clock.now())

    server_part: list[float] = []
    in_tab: list[float] = []
    try:
        async with async_playwright() as driver:
            browser = await driver.chromium.launch(executable_path=chromium, args=ARGS)
            context = await browser.new_context(viewport={"width": 360, "height": 740})
            member = await context.new_page()
            await member.goto(f"{base}/sandbox/chat?phone={quote(MEMBER)}")
            secretary = await context.new_page()
            await secretary.goto(f"{base}/sandbox/chat?phone={quote(SECRETARY)}")
            for n in range(notices):
                text = f"第{n + 1}次通知：明天上午九点开会"
                acks = await secretary.locator(".sb-theirs").count()
                await secretary.fill("#sb-body", f"通知 {text}")
                await secretary.press("#sb-body", "Enter")
                await secretary.locator(".sb-theirs").nth(acks).wait_for()
                start = time.monotonic()
                arrived = member.locator(".sb-bubble", has_text=text)
                sent_at = None
                async with asyncio.timeout(15):
                    while sent_at is None:
                        status = await app.repos.db.fetchval(
                            "SELECT status FROM outbox WHERE address = :a AND body LIKE :b",
                            {"a": MEMBER, "b": f"%{text}%"},
                        )
                        if status == "sent":
                            sent_at = time.monotonic()
                        else:
                            await asyncio.sleep(0.005)
                await arrived.wait_for(timeout=15_000)
                server_part.append(sent_at - start)
                in_tab.append(time.monotonic() - start)
                await asyncio.sleep(random.uniform(0.2, 1.2))  # unaligned with the polling
            await browser.close()
        async with httpx.AsyncClient(base_url=base) as client:
            first = await client.get("/sandbox/thread", params={"phone": MEMBER})
            tag = first.headers["etag"]
            began = time.perf_counter()
            for _ in range(200):
                again = await client.get(
                    "/sandbox/thread", params={"phone": MEMBER}, headers={"if-none-match": tag}
                )
                assert again.status_code == 304
            poll_ms = (time.perf_counter() - began) / 200 * 1000
            page_bytes = len(first.content)
    finally:
        server.should_exit = True
        await serving
        shutil.rmtree(folder, ignore_errors=True)
        if schema is not None:
            await _admin(database, f"DROP SCHEMA {schema} CASCADE")

    def figures(values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
        return f"median {statistics.median(values):.2f} s, p90 {p90:.2f} s, max {max(values):.2f} s"

    print(f"database: {app.repos.db.dialect}; notices: {notices}")
    print(f"acknowledged -> outbox row sent to the member: {figures(server_part)}")
    print(f"acknowledged -> shown in the member's tab:     {figures(in_tab)}")
    print(
        f"one poll of an unchanged thread (304): {poll_ms:.1f} ms; "
        f"the thread itself {page_bytes} bytes"
    )
    median = statistics.median(in_tab)
    p90 = sorted(in_tab)[max(0, int(len(in_tab) * 0.9) - 1)]
    print(f"bench sandbox_live: median {median:.2f} s (p90 {p90:.2f} s)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=20)
    parser.add_argument("--database", default="sqlite")
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.notices, options.database)))
