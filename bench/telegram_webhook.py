"""Telegram webhook benchmark: `grassroots serve` on SQLite vs a bare ASGI JSON endpoint, over HTTP.

    python bench/telegram_webhook.py [--requests 20000] [--members 2000] [--concurrency 64]

Three servers run as subprocesses: `grassroots serve` with the Telegram channel on in webhook
mode, a bare ASGI app (this file, `--bare-server PORT`) that only parses the JSON and answers
an empty 200, and a fake Bot API (this file, `--fake-bot-api PORT`) that answers getMe,
sendMessage and answerCallbackQuery at once and counts them. The bot and the bare app run
under the same uvicorn settings (uvloop, httptools, one worker, log level warning). The same
pre-built updates (about 90% deed reports from members whose chats are linked to their
phones, 10% poll-style replies "1"/"2", typed or pressed as a button, from members and from
unlinked chats) carrying the secret token go to each over loopback, on persistent HTTP/1.1
connections, in the order bare, pipeline, bare: the two bare passes bracket the pipeline, so
drift in machine load shows as a gap between them, and the ratio uses their mean.

The webhook answers 200 once the update is recorded and handles it in the background, so
after the pipeline pass the bench waits (bounded) for every update to be handled and its
replies sent before the second bare pass, and reports that drain. Afterwards the database is
read to check that every update answered 200 was stored exactly once. Ends with
`bench telegram_webhook: ratio X.XX (target 0.5)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from webhook_load import (
    Receive,
    Run,
    Scope,
    Send,
    Server,
    Stored,
    answer,
    answer_plumbing,
    arg_parser,
    compare_stored,
    cpu_delta,
    cpu_seconds,
    free_port,
    http_get,
    load,
    member_phone,
    print_stored,
    read_body,
    report_passes,
    run_server,
    seed_roster,
    start_server,
    stop_server,
    wait_ready,
)

TARGET = 0.5
PUBLIC_URL = "https://bot.example.org"
WEBHOOK_PATH = "/telegram/webhook"  # bot.channels.telegram.WEBHOOK_PATH, without importing PTB
POLL_EVERY = 10  # every tenth update is a poll-style reply
POLL_REPLIES = ("1", "2")
TAGS = ("#服务 ", "#学习 ", "#正气 ", "3 ", "")
MEMBER_CHAT = 100_000  # member i's Telegram chat id is MEMBER_CHAT + i, linked to their phone
VILLAGER_CHAT = 6_000_000_000  # chats linked to nobody (the bot answers with help); no overlap
FIRST_UPDATE = 600_000_000  # Telegram's update ids are large and increase by one
BOT_USER = {
    "id": 7_000_000_001,
    "is_bot": True,
    "first_name": "Grassroots",
    "username": "grassroots_bench_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
RECORDED = "已记录"  # the zh-CN deed.recorded reply begins so
STOP_S = 30.0  # `serve` stops only once its background replies are done
SETTLE_S = 3.0  # replies sent: done once the fake's count has not moved for this long


# --- The bare endpoint and the fake Bot API (each in its own process) -----------------------


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, parse the JSON as the product does, answer an empty 200."""
    if await answer_plumbing(scope, receive, send):
        return
    try:
        update = json.loads(await read_body(receive))
        ok = isinstance(update, dict) and "update_id" in update
    except ValueError:
        ok = False
    await answer(send, 200 if ok else 403, b"")


class FakeBotApi:
    """Just enough of api.telegram.org for `serve`: getMe at start, then the replies."""

    def __init__(self, token: str) -> None:
        self.prefix = f"/bot{token}/"
        self.calls: Counter[str] = Counter()
        self.message_id = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await answer_plumbing(scope, receive, send):
            return
        path = scope["path"]
        raw = await read_body(receive)
        if path == "/stats":
            await answer(send, 200, json.dumps(self.calls).encode(), b"application/json")
            return
        method = path[len(self.prefix) :] if path.startswith(self.prefix) else ""
        result: object
        if method == "getMe":
            result = BOT_USER
        elif method == "sendMessage":
            # PTB posts a form whose values are JSON except plain strings (chat_id, text).
            params = dict(parse_qsl(raw.decode()))
            chat, text = params.get("chat_id", ""), params.get("text", "")
            if not chat.lstrip("-").isdigit() or not text:
                self.calls["sendMessage refused"] += 1
                await self._error(send, 400, "Bad Request: chat_id or text missing")
                return
            self.message_id += 1
            result = {
                "message_id": self.message_id,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private"},
                "from": BOT_USER,
                "text": text,
            }
            if text.startswith(RECORDED):
                self.calls["sendMessage recorded"] += 1
        elif method == "answerCallbackQuery":
            result = True
        else:
            self.calls[f"unknown {path[:60]}"] += 1
            await self._error(send, 404, "Not Found")
            return
        self.calls[method] += 1
        body = json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()
        await answer(send, 200, body, b"application/json")

    async def _error(self, send: Send, status: int, description: str) -> None:
        body = {"ok": False, "error_code": status, "description": description}
        await answer(send, status, json.dumps(body).encode(), b"application/json")


# --- Requests ------------------------------------------------------------------------------


@dataclass(slots=True)
class Workload:
    requests: list[bytes]  # complete HTTP/1.1 requests, headers and body
    update_ids: list[str]  # as the product stores them: inbound_messages.provider_id
    is_deed: bytearray  # 1 where the update is a deed report from a linked member
    buttons: int  # callback queries among the updates


def _user(chat: int) -> dict[str, object]:
    return {"id": chat, "is_bot": False, "first_name": "x", "language_code": "zh-hans"}


def build_workload(count: int, members: int, secret: str) -> Workload:
    """Every update serialised before any clock starts, as Telegram would post it."""
    now = int(time.time())
    requests, update_ids, is_deed, buttons = [], [], bytearray(count), 0
    for n in range(count):
        update_id = FIRST_UPDATE + n
        if n % POLL_EVERY == POLL_EVERY - 1:
            k = n // POLL_EVERY
            chat = MEMBER_CHAT + k % members if k % 2 else VILLAGER_CHAT + k % members
            answer = POLL_REPLIES[(k // 2) % len(POLL_REPLIES)]
            if k % 4 >= 2:  # half the replies are a press of the poll's inline button
                buttons += 1
                update: dict[str, object] = {
                    "update_id": update_id,
                    "callback_query": {
                        "id": str(4_000_000_000_000_000_000 + n),
                        "from": _user(chat),
                        "message": {
                            "message_id": n,
                            "date": now - 3600,
                            "chat": {"id": chat, "type": "private"},
                            "from": BOT_USER,
                            "text": "周五支部大会能参加吗？1 能 2 不能",
                        },
                        "chat_instance": str(-8_000_000_000_000_000_000 + chat),
                        "data": "c:" + answer,
                    },
                }
            else:
                update = _message(update_id, n, now, chat, answer)
        else:
            chat = MEMBER_CHAT + n % members
            text = f"汇报 {TAGS[n % len(TAGS)]}今天帮邻居修水渠 {n}"
            update = _message(update_id, n, now, chat, text)
            is_deed[n] = 1
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
            "Host: bot.example.org\r\n"
            "Content-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"
            "Accept-Encoding: gzip, deflate\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
        update_ids.append(str(update_id))
    return Workload(requests, update_ids, is_deed, buttons)


def _message(update_id: int, n: int, now: int, chat: int, text: str) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": n,
            "date": now,
            "chat": {"id": chat, "type": "private", "first_name": "x"},
            "from": _user(chat),
            "text": text,
        },
    }


# --- Set-up and checks ---------------------------------------------------------------------


def no_body(n: int, body: bytes) -> bool:
    """Every pass's check: the webhook answers 200 with an empty body, so any body is bad."""
    return bool(body)


async def api_calls(fake: Server) -> Counter[str]:
    status, body = await http_get(fake.port, "/stats")
    if status != 200:
        raise SystemExit(f"fake Bot API /stats answered {status}")
    return Counter(json.loads(body))


def seed(tmp: Path, db: Path, members: int, cli: list[str], env: dict[str, str]) -> None:
    """The roster through the real import commands, as a county would load it; then each
    member's chat linked to their phone, as a shared contact would have done."""
    seed_roster(tmp, members, cli, env)
    # Straight into the table: the linking conversation is not what this bench measures.
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())  # the engine's format
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO addresses (person_id, kind, value, created_at)"
                " SELECT person_id, 'telegram', ?, ? FROM addresses"
                " WHERE kind = 'sms' AND value = ?",
                ((str(MEMBER_CHAT + i), at, member_phone(i)) for i in range(members)),
            )
        linked = conn.execute("SELECT COUNT(*) FROM addresses WHERE kind = 'telegram'").fetchone()
    finally:
        conn.close()
    if linked[0] != members:
        raise SystemExit(f"linked {linked[0]} chats, not {members}: the import changed?")


@dataclass(slots=True)
class Drain:
    seconds: float  # from the last answer to every update handled and its replies sent
    unhandled: int  # still status 'received' when the wait ended
    timed_out: bool


def _pending(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(
            "SELECT COUNT(*) FROM inbound_messages WHERE channel = 'telegram'"
            " AND status = 'received'"
        ).fetchone()[0]
    finally:
        conn.close()


async def drain(db: Path, fake: Server, limit: float) -> Drain:
    """Wait for the background handling and replies the 200s left behind: every update
    handled, then the fake's sendMessage count still for SETTLE_S. Bounded by `limit`."""
    start = time.monotonic()
    deadline = start + limit
    pending = _pending(db)
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        pending = _pending(db)
    handled = time.monotonic()
    last, still_since = -1, handled
    while time.monotonic() < deadline:
        sent = (await api_calls(fake))["sendMessage"]
        if sent != last:
            last, still_since = sent, time.monotonic()
        elif time.monotonic() - still_since >= SETTLE_S:
            break
        await asyncio.sleep(0.1)
    # The quiet time after the last send is waiting, not work: leave it out.
    end = max(handled, still_since)
    return Drain(end - start, pending, time.monotonic() >= deadline)


def check_storage(db: Path, work: Workload, run: Run) -> tuple[Stored, int]:
    """The storage check, and the replies the router gave: all should reach sendMessage."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT m.provider_id, m.status, COUNT(d.id), m.reply FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'telegram'"
            " GROUP BY m.id"
        ).fetchall()
    finally:
        conn.close()
    stored = compare_stored([row[:3] for row in rows], work.update_ids, work.is_deed, run)
    return stored, sum(len(json.loads(reply)) for *_, reply in rows if reply)


@dataclass(slots=True)
class Outcome:
    runs: list[Run]
    drain: Drain
    drain_cpu: float | None  # the bot's CPU seconds while draining
    fake_cpu: float | None  # the fake Bot API's CPU seconds over the pipeline pass and drain
    calls: Counter[str] = field(default_factory=Counter)


async def drive(
    bare: Server,
    pipeline: Server,
    fake: Server,
    db: Path,
    work: Workload,
    concurrency: int,
    time_limit: float,
    drain_limit: float,
) -> Outcome:
    await wait_ready(fake)  # `serve` calls getMe as it starts
    await asyncio.gather(wait_ready(bare), wait_ready(pipeline))
    # Bare, pipeline, bare: the same load back to back; the bare passes bracket the pipeline.
    pid = pipeline.proc.pid
    first = await load(
        "bare endpoint, pass 1", bare, work.requests, concurrency, time_limit, no_body
    )
    fake_cpu0 = cpu_seconds(fake.proc.pid)
    served = await load(
        "grassroots serve", pipeline, work.requests, concurrency, time_limit, no_body
    )
    # The backlog must be gone before the second bare pass, or it would share the CPUs.
    cpu0 = cpu_seconds(pid)
    drained = await drain(db, fake, drain_limit)
    cpu1, fake_cpu1 = cpu_seconds(pid), cpu_seconds(fake.proc.pid)
    second = await load(
        "bare endpoint, pass 2", bare, work.requests, concurrency, time_limit, no_body
    )
    return Outcome(
        [first, served, second],
        drained,
        cpu_delta(cpu0, cpu1),
        cpu_delta(fake_cpu0, fake_cpu1),
    )


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument(
        "--drain-limit", type=float, default=180.0, help="seconds to wait for the replies"
    )
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--fake-bot-api", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_server(bare_app, args.bare_server)
        return
    if args.fake_bot_api:
        run_server(FakeBotApi(os.environ["TELEGRAM_BOT_TOKEN"]), args.fake_bot_api)
        return

    import uvloop  # the load generator's loop; the bench needs it like serve does

    token = f"{BOT_USER['id']}:{secrets.token_urlsafe(26)}"
    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.db"
        config = tmp / "config.toml"
        fake_port, pipeline_port, bare_port = free_port(), free_port(), free_port()
        config.write_text(
            f'[telegram]\nenabled = true\nmode = "webhook"\npublic_url = "{PUBLIC_URL}"\n'
            f'api_base_url = "http://127.0.0.1:{fake_port}"\n\n'
            # Replies leave through the outbox at the configured rate; the fake Bot API has
            # no limits, so lift them to measure what the service itself can do.
            "[outbox]\nconcurrency = 64\n[outbox.rate]\ntelegram = 100000.0\n"
            "telegram_per_chat = 1000.0\n\n"
            '[scheduler]\nenabled = false\n\n[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GRASSROOTS_", "TWILIO_", "TELEGRAM_"))  # only this bench's
        }
        env |= {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_WEBHOOK_SECRET": secret,
            "GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "NO_PROXY": "127.0.0.1,localhost",  # httpx in `serve` honours proxy variables
            "no_proxy": "127.0.0.1,localhost",
        }
        cli = [sys.executable, "-m", "bot", "--config", str(config)]
        seed(tmp, db, args.members, cli, env)
        work = build_workload(args.requests, args.members, secret)

        servers: list[Server] = []
        try:
            fake = [sys.executable, __file__, "--fake-bot-api", str(fake_port)]
            serve = [*cli, "serve", "--port", str(pipeline_port)]
            bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
            servers.append(start_server("fake Bot API", fake, env, tmp, fake_port))
            servers.append(start_server("grassroots serve", serve, env, tmp, pipeline_port))
            servers.append(start_server("bare endpoint", bare, env, tmp, bare_port))
            fake_api, pipeline_server, bare_server = servers
            outcome = uvloop.run(
                drive(
                    bare_server,
                    pipeline_server,
                    fake_api,
                    db,
                    work,
                    args.concurrency,
                    args.time_limit,
                    args.drain_limit,
                )
            )
            # `serve` first (it finishes its replies as it stops), then count what it sent.
            stop_server(pipeline_server, STOP_S)
            outcome.calls = uvloop.run(api_calls(fake_api))
        finally:
            for server in reversed(servers):  # bare, serve, then the API serve talks to
                stop_server(server, STOP_S)
        pipeline_log = servers[1].log.read_text(errors="replace")
        stored, replies = check_storage(db, work, outcome.runs[1])

    bare1, pipeline, bare2 = outcome.runs
    deeds = sum(work.is_deed)
    polls = args.requests - deeds
    print(
        f"requests: {args.requests} updates ({deeds} deed reports from {args.members} linked "
        f"members, {polls} poll-style replies of which {work.buttons} button presses), "
        f"{args.concurrency} keep-alive connections over loopback, {os.cpu_count()} CPUs"
    )
    ratio = report_passes(outcome.runs, args.requests, TARGET, None)
    drained = outcome.drain
    total = pipeline.elapsed + drained.seconds
    drain_cpu = (
        f", serve CPU {outcome.drain_cpu / drained.seconds:.0%}"
        if outcome.drain_cpu is not None and drained.seconds > 0
        else ""
    )
    fake_cpu = f"{outcome.fake_cpu:.1f} s" if outcome.fake_cpu is not None else "n/a"
    print(
        f"background: replies done {drained.seconds:.2f} s after the last 200{drain_cpu}"
        f"{' (GAVE UP WAITING)' if drained.timed_out else ''}; received to replied: "
        f"{pipeline.answered / total:,.0f} updates/s; fake Bot API CPU {fake_cpu} over both"
    )
    print_stored(stored, "update ids")
    calls = outcome.calls
    not_sent = pipeline_log.count("not sent:")
    print(
        f"Bot API: sendMessage {calls['sendMessage']} (replies stored: {replies}; "
        f"{calls['sendMessage recorded']} say a deed was recorded, of {deeds} reports), "
        f"answerCallbackQuery {calls['answerCallbackQuery']} (of {work.buttons} presses), "
        f"getMe {calls['getMe']}; replies logged not sent: {not_sent}"
    )
    other = {k: v for k, v in calls.items() if k.startswith(("unknown", "sendMessage refused"))}
    if other:
        print(f"Bot API: unexpected calls {other}", file=sys.stderr)
    bad = bare1.bad_replies + bare2.bad_replies
    if pipeline.bad_replies or bad:
        print(
            f"answers: {pipeline.bad_replies} pipeline and {bad} bare 200s had a body",
            file=sys.stderr,
        )
    failures = []
    if not stored.exact:
        failures.append("an update answered 200 was not stored exactly once")
    if stored.unhandled or stored.wrong_deeds:
        failures.append("an update answered 200 was not handled, or its deed not stored once")
    if calls["sendMessage"] != replies:
        print(
            f"WARNING: {replies - calls['sendMessage']} replies the router gave "
            "never reached sendMessage",
            file=sys.stderr,
        )
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    if (failures or not_sent) and pipeline_log:
        tail = "\n".join(pipeline_log.splitlines()[-20:])
        print(f"server log tail:\n{tail}", file=sys.stderr)
    print(f"bench telegram_webhook: ratio {ratio:.2f} (target {TARGET})")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
