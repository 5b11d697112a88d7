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
import math
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

TARGET = 0.5
PUBLIC_URL = "https://bot.example.org"
WEBHOOK_PATH = "/telegram/webhook"  # bot.channels.telegram.WEBHOOK_PATH, without importing PTB
BRANCHES = 20
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
STARTUP_S = 60.0
STOP_S = 30.0  # `serve` stops only once its background replies are done
SETTLE_S = 3.0  # replies sent: done once the fake's count has not moved for this long

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- The bare endpoint and the fake Bot API (each in its own process) -----------------------


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        event = await receive()
        chunks.append(event.get("body", b""))
        more = event.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes, media: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if media:
        headers.append((b"content-type", media))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, parse the JSON as the product does, answer an empty 200."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _answer(send, 200, b'{"status":"ok"}', b"application/json")
        return
    try:
        update = json.loads(await _read_body(receive))
        ok = isinstance(update, dict) and "update_id" in update
    except ValueError:
        ok = False
    await _answer(send, 200 if ok else 403, b"")


class FakeBotApi:
    """Just enough of api.telegram.org for `serve`: getMe at start, then the replies."""

    def __init__(self, token: str) -> None:
        self.prefix = f"/bot{token}/"
        self.calls: Counter[str] = Counter()
        self.message_id = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        raw = await _read_body(receive)
        if path == "/healthz":
            await _answer(send, 200, b'{"status":"ok"}', b"application/json")
            return
        if path == "/stats":
            await _answer(send, 200, json.dumps(self.calls).encode(), b"application/json")
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
        await _answer(send, 200, body, b"application/json")

    async def _error(self, send: Send, status: int, description: str) -> None:
        body = {"ok": False, "error_code": status, "description": description}
        await _answer(send, status, json.dumps(body).encode(), b"application/json")


def run_server(app: Callable[[Scope, Receive, Send], Awaitable[None]], port: int) -> None:
    import uvicorn

    # What `grassroots serve` gets from uvicorn's "auto" choices, named so a missing
    # uvloop or httptools fails here instead of silently measuring something else.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        log_config=None,
    )


# --- Requests ------------------------------------------------------------------------------


def member_phone(i: int) -> str:
    return f"+86138{i:08d}"


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


# --- Load generator ------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    name: str
    elapsed: float
    statuses: array[int]  # HTTP status per request; 0 = no answer (connection error, time limit)
    latencies: array[float]  # seconds per request, for those answered
    bad_replies: int  # answered 200 with a body: the webhook's answer is empty
    client_cpu: float  # this process's CPU seconds during the run
    server_cpu: float | None

    @property
    def answered(self) -> int:
        return sum(1 for s in self.statuses if s)

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed

    def percentile(self, q: float) -> float:
        done = sorted(lat for lat, s in zip(self.latencies, self.statuses, strict=True) if s)
        return done[max(0, math.ceil(q * len(done)) - 1)] if done else math.nan


@dataclass(slots=True)
class _Tally:
    bad_replies: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def _one_connection(
    port: int,
    work: Workload,
    turns: Iterator[int],
    statuses: array[int],
    latencies: array[float],
    tally: _Tally,
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    reader, writer = conn
    clock = time.perf_counter
    try:
        for n in turns:  # shared by all connections: each takes the next request
            start = clock()
            try:
                writer.write(work.requests[n])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                lower = head.lower()
                at = lower.index(b"\r\ncontent-length:") + 17
                body = await reader.readexactly(int(lower[at : lower.index(b"\r\n", at)]))
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                # ValueError: no status or Content-Length (LimitOverrunError is one too). The
                # framing is lost: count it unanswered and go on over a new connection.
                tally.errors[type(exc).__name__] += 1
                lower = b"\r\nconnection: close"
            else:
                latencies[n] = clock() - start
                statuses[n] = status
                if status == 200 and body:
                    tally.bad_replies += 1
            if b"\r\nconnection: close" in lower:
                writer.close()
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError as exc:  # the server is gone: this connection stops here
                    tally.errors[f"reconnect {type(exc).__name__}"] += 1
                    return
    finally:
        writer.close()


async def load(
    name: str, port: int, pid: int, work: Workload, concurrency: int, time_limit: float
) -> Run:
    count = len(work.requests)
    statuses = array("H", bytes(2 * count))
    latencies = array("d", bytes(8 * count))
    tally = _Tally()
    # Connections are open before the clock starts: the run measures requests, not handshakes.
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    turns = iter(range(count))
    server_cpu0, client_cpu0 = cpu_seconds(pid), time.process_time()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            await asyncio.gather(
                *(_one_connection(port, work, turns, statuses, latencies, tally, c) for c in conns)
            )
    except TimeoutError:
        tally.errors["time limit"] += 1
    elapsed = time.perf_counter() - start
    client_cpu = time.process_time() - client_cpu0
    server_cpu1 = cpu_seconds(pid)
    if tally.errors:
        print(f"{name}: client errors {dict(tally.errors)}", file=sys.stderr)
    return Run(
        name,
        elapsed,
        statuses,
        latencies,
        tally.bad_replies,
        client_cpu,
        None if server_cpu0 is None or server_cpu1 is None else server_cpu1 - server_cpu0,
    )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, all threads (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(slots=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


def start_server(name: str, argv: list[str], env: dict[str, str], tmp: Path, port: int) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, port, proc, log)


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    # Raw, not urllib: an http_proxy in the environment must not capture loopback probes.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head[9:12]), body


async def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.name} exited ({server.proc.returncode}):\n{server.tail()}")
        # A failed lifespan can leave the process alive (a thread it opened keeps it up):
        # give up at once rather than wait out the start-up time.
        if b"Application startup failed" in server.log.read_bytes():
            raise SystemExit(f"{server.name} failed to start:\n{server.tail()}")
        try:
            status, _ = await http_get(server.port, "/healthz")
            if status == 200:
                return
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{server.name} not ready after {STARTUP_S:.0f} s:\n{server.tail()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()  # SIGTERM: uvicorn drains, lifespan closes the database
        try:
            server.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            print(f"{server.name} did not stop in {STOP_S:.0f} s; killed", file=sys.stderr)
            server.proc.kill()
            server.proc.wait()


async def api_calls(fake: Server) -> Counter[str]:
    status, body = await http_get(fake.port, "/stats")
    if status != 200:
        raise SystemExit(f"fake Bot API /stats answered {status}")
    return Counter(json.loads(body))


# --- Set-up and checks ---------------------------------------------------------------------


def seed(tmp: Path, db: Path, members: int, cli: list[str], env: dict[str, str]) -> None:
    """The roster through the real import commands, as a county would load it; then each
    member's chat linked to their phone, as a shared contact would have done."""
    orgs = tmp / "orgs.csv"
    people = tmp / "people.csv"
    orgs.write_text(
        "code,name,kind,parent_code,theme\nB,县委,county,,\n"
        + "".join(f"B{b:02d},村{b}党支部,branch,B,\n" for b in range(BRANCHES)),
        encoding="utf-8",
    )
    people.write_text(
        "org_code,name,phone,role\n"
        + "".join(f"B{i % BRANCHES:02d},党员{i},138{i:08d},member\n" for i in range(members)),
        encoding="utf-8",
    )
    for command, path in (("import-orgs", orgs), ("import-people", people)):
        done = subprocess.run([*cli, command, str(path)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{command} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
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


@dataclass(slots=True)
class Stored:
    rows: int
    distinct: int  # distinct provider ids among the rows
    ok: int  # requests answered 200
    missing: int  # answered 200, not stored
    extra: int  # stored, not answered 200 (allowed: recorded, then the answer was lost)
    unhandled: int  # answered 200, stored with a status other than handled
    wrong_deeds: int  # answered 200 with other than one deed per report and none per reply
    deeds: int
    replies: int  # replies the router gave, all of which should have gone to sendMessage


def check_storage(db: Path, work: Workload, run: Run) -> Stored:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT m.provider_id, m.status, COUNT(d.id), m.reply FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'telegram'"
            " GROUP BY m.id"
        ).fetchall()
    finally:
        conn.close()
    stored = {uid: (status, deeds) for uid, status, deeds, _ in rows}
    ok = {uid: work.is_deed[n] for n, uid in enumerate(work.update_ids) if run.statuses[n] == 200}
    return Stored(
        rows=len(rows),
        distinct=len(stored),
        ok=len(ok),
        missing=len(ok.keys() - stored.keys()),
        extra=len(stored.keys() - ok.keys()),
        unhandled=sum(1 for uid in ok if uid in stored and stored[uid][0] != "handled"),
        wrong_deeds=sum(1 for uid, deed in ok.items() if uid in stored and stored[uid][1] != deed),
        deeds=sum(deeds for _, deeds in stored.values()),
        replies=sum(len(json.loads(reply)) for *_, reply in rows if reply),
    )


def describe(run: Run, count: int) -> str:
    cpu = f"server CPU {run.server_cpu / run.elapsed:.0%}" if run.server_cpu is not None else ""
    codes = Counter(run.statuses)
    answers = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(codes.items()))
    return (
        f"{run.name}: {run.rate:,.0f} req/s ({run.answered}/{count} in {run.elapsed:.2f} s), "
        f"p50 {run.percentile(0.50) * 1000:.1f} ms, p99 {run.percentile(0.99) * 1000:.1f} ms; "
        f"{cpu}, generator CPU {run.client_cpu / run.elapsed:.0%}; status {answers}"
    )


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
        "bare endpoint, pass 1", bare.port, bare.proc.pid, work, concurrency, time_limit
    )
    fake_cpu0 = cpu_seconds(fake.proc.pid)
    served = await load("grassroots serve", pipeline.port, pid, work, concurrency, time_limit)
    # The backlog must be gone before the second bare pass, or it would share the CPUs.
    cpu0 = cpu_seconds(pid)
    drained = await drain(db, fake, drain_limit)
    cpu1, fake_cpu1 = cpu_seconds(pid), cpu_seconds(fake.proc.pid)
    second = await load(
        "bare endpoint, pass 2", bare.port, bare.proc.pid, work, concurrency, time_limit
    )
    return Outcome(
        [first, served, second],
        drained,
        None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        None if fake_cpu0 is None or fake_cpu1 is None else fake_cpu1 - fake_cpu0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per pass")
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
            stop_server(pipeline_server)
            outcome.calls = uvloop.run(api_calls(fake_api))
        finally:
            for server in reversed(servers):  # bare, serve, then the API serve talks to
                stop_server(server)
        pipeline_log = servers[1].log.read_text(errors="replace")
        stored = check_storage(db, work, outcome.runs[1])

    bare1, pipeline, bare2 = outcome.runs
    bare_rate = (bare1.rate + bare2.rate) / 2
    ratio = pipeline.rate / bare_rate
    deeds = sum(work.is_deed)
    polls = args.requests - deeds
    print(
        f"requests: {args.requests} updates ({deeds} deed reports from {args.members} linked "
        f"members, {polls} poll-style replies of which {work.buttons} button presses), "
        f"{args.concurrency} keep-alive connections over loopback, {os.cpu_count()} CPUs"
    )
    for run in outcome.runs:
        print(describe(run, args.requests))
    client_cpu = max(bare1.client_cpu + bare2.client_cpu, 1e-3)
    print(
        f"generator ceiling: ~{(bare1.answered + bare2.answered) / client_cpu:,.0f} req/s per "
        "CPU-second of this process (bare passes)"
    )
    print(
        f"ratio: {pipeline.rate:,.0f} / {bare_rate:,.0f} (mean of the bare passes) = {ratio:.2f}"
        f" (target {TARGET}); pipeline p99 {pipeline.percentile(0.99) * 1000:.0f} ms"
    )
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
    exact = stored.missing == 0 and stored.rows == stored.distinct
    print(
        f"stored: {stored.rows} inbound messages, {stored.distinct} distinct update ids "
        f"({stored.rows - stored.distinct} duplicates); answered 200: {stored.ok}, of them "
        f"not stored: {stored.missing}, not handled: {stored.unhandled}; stored without a 200: "
        f"{stored.extra}; every 200 stored exactly once: {'yes' if exact else 'NO'}; "
        f"200s == distinct stored: {'yes' if stored.ok == stored.distinct else 'no'}"
    )
    print(
        f"deeds: {stored.deeds} stored; answered 200 with other than one deed per report and "
        f"none per reply: {stored.wrong_deeds}"
    )
    calls = outcome.calls
    not_sent = pipeline_log.count("not sent:")
    print(
        f"Bot API: sendMessage {calls['sendMessage']} (replies stored: {stored.replies}; "
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
    if not exact:
        failures.append("an update answered 200 was not stored exactly once")
    if stored.unhandled or stored.wrong_deeds:
        failures.append("an update answered 200 was not handled, or its deed not stored once")
    if calls["sendMessage"] != stored.replies:
        print(
            f"WARNING: {stored.replies - calls['sendMessage']} replies the router gave "
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
