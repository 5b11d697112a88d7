"""SMS webhook benchmark: `grassroots serve` on SQLite vs a bare ASGI form endpoint, over HTTP.

    python bench/sms_webhook.py [--requests 20000] [--members 2000] [--concurrency 64]

Two servers run as subprocesses under the same uvicorn settings (uvloop, httptools, one
worker, log level warning): `grassroots serve` with the SMS channel on, and a bare ASGI app
(this file, `--bare-server PORT`) that only parses the form and answers empty TwiML. The
same pre-signed Twilio webhooks (about 90% deed reports from the roster's members, 10%
poll-style digit replies from members and villagers) go to each over loopback, on
persistent HTTP/1.1 connections, in the order bare, pipeline, bare: the two bare passes
bracket the pipeline, so drift in machine load shows as a gap between them, and the ratio
uses their mean. Afterwards the database is read to check that every message answered 200
was stored exactly once. Ends with `bench sms_webhook: ratio X.XX (target 0.6)`.
"""

from __future__ import annotations

import argparse
import asyncio
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
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

TARGET = 0.6
P99_TARGET_S = 1.0
PUBLIC_URL = "https://bot.example.org"
INBOUND_PATH = "/sms/inbound"
FROM_NUMBER = "+12025550100"  # the service's own number: the webhook's To
BRANCHES = 20
POLL_EVERY = 10  # every tenth request is a poll-style reply
POLL_REPLIES = ("1", "2", "１")  # full-width digits come from Chinese input methods
TAGS = ("#服务", "#学习", "#正气", "3 ", "")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
RECORDED = "已记录".encode()  # the zh-CN deed.recorded reply begins so
STARTUP_S = 60.0
STOP_S = 20.0

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


# --- The bare endpoint (runs in its own process) --------------------------------------------


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, parse the form as the product does, answer the empty TwiML."""
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        status, body, media = 200, b'{"status":"ok"}', b"application/json"
    else:
        chunks, more = [], True
        while more:
            event = await receive()
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        raw = b"".join(chunks)
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        ok = bool(form.get("MessageSid"))
        status, body, media = (200, EMPTY_TWIML, b"application/xml") if ok else (400, b"", b"")
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run_bare_server(port: int) -> None:
    import uvicorn

    # What `grassroots serve` gets from uvicorn's "auto" choices, named so a missing
    # uvloop or httptools fails here instead of silently measuring something else.
    uvicorn.run(
        bare_app,
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


def villager_phone(i: int) -> str:
    return f"+86139{i:08d}"  # on no roster: the bot answers them with help


@dataclass(slots=True)
class Workload:
    requests: list[bytes]  # complete HTTP/1.1 requests, headers and body
    sids: list[str]
    is_deed: bytearray  # 1 where the request is a deed report from a member


def build_workload(count: int, members: int, account_sid: str, token: str) -> Workload:
    """Every request signed before any clock starts, as Twilio would sign it."""
    validator = RequestValidator(token)
    url = PUBLIC_URL + INBOUND_PATH
    requests, sids, is_deed = [], [], bytearray(count)
    for n in range(count):
        if n % POLL_EVERY == POLL_EVERY - 1:
            k = n // POLL_EVERY
            sender = member_phone(k % members) if k % 2 else villager_phone(k % members)
            body = POLL_REPLIES[k % len(POLL_REPLIES)]
        else:
            sender = member_phone(n % members)
            body = f"汇报 {TAGS[n % len(TAGS)]}今天帮邻居修水渠 {n}"
            is_deed[n] = 1
        sid = "SM" + secrets.token_hex(16)
        # The fields of a real Twilio Messaging webhook, so signing covers a real form.
        params = {
            "ToCountry": "US",
            "ToState": "DC",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "WASHINGTON",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "CN",
            "To": FROM_NUMBER,
            "ToZip": "20001",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        form = urlencode(params).encode()
        signature = validator.compute_signature(url, params)
        head = (
            f"POST {INBOUND_PATH} HTTP/1.1\r\n"
            "Host: bot.example.org\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Accept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            f"Content-Length: {len(form)}\r\n\r\n"
        )
        requests.append(head.encode() + form)
        sids.append(sid)
    return Workload(requests, sids, is_deed)


# --- Load generator ------------------------------------------------------------------------

TWIML_DEED = 1  # the answer check: a deed report must get a <Message> saying it was recorded
TWIML_EMPTY = 2  # the bare endpoint: exactly the empty TwiML


@dataclass(slots=True)
class Run:
    name: str
    elapsed: float
    statuses: array[int]  # HTTP status per request; 0 = no answer (connection error, time limit)
    latencies: array[float]  # seconds per request, for those answered
    bad_replies: int  # answered 200 with a body that fails the check
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
    check: int,
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
                if status == 200 and (
                    (check == TWIML_EMPTY and body != EMPTY_TWIML)
                    or (
                        check == TWIML_DEED
                        and work.is_deed[n]
                        and not (body.startswith(b"<?xml") and b"<Message>" + RECORDED in body)
                    )
                ):
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
    name: str,
    port: int,
    pid: int,
    work: Workload,
    concurrency: int,
    check: int,
    time_limit: float,
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
                *(
                    _one_connection(port, work, turns, check, statuses, latencies, tally, c)
                    for c in conns
                )
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


# --- Set-up and checks ---------------------------------------------------------------------


def seed(tmp: Path, members: int, cli: list[str], env: dict[str, str]) -> None:
    """The roster through the real import commands, as a county would load it."""
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


def check_storage(db: Path, work: Workload, run: Run) -> Stored:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT m.provider_id, m.status, COUNT(d.id) FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'sms' GROUP BY m.id"
        ).fetchall()
    finally:
        conn.close()
    stored = {sid: (status, deeds) for sid, status, deeds in rows}
    ok = {sid: work.is_deed[n] for n, sid in enumerate(work.sids) if run.statuses[n] == 200}
    return Stored(
        rows=len(rows),
        distinct=len(stored),
        ok=len(ok),
        missing=len(ok.keys() - stored.keys()),
        extra=len(stored.keys() - ok.keys()),
        unhandled=sum(1 for sid in ok if sid in stored and stored[sid][0] != "handled"),
        wrong_deeds=sum(1 for sid, deed in ok.items() if sid in stored and stored[sid][1] != deed),
        deeds=sum(deeds for _, deeds in stored.values()),
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


async def drive(
    bare: Server, pipeline: Server, work: Workload, concurrency: int, time_limit: float
) -> list[Run]:
    await asyncio.gather(wait_ready(bare), wait_ready(pipeline))
    # Bare, pipeline, bare: the same load back to back; the bare passes bracket the pipeline.
    runs = []
    for name, server, check in (
        ("bare endpoint, pass 1", bare, TWIML_EMPTY),
        ("grassroots serve", pipeline, TWIML_DEED),
        ("bare endpoint, pass 2", bare, TWIML_EMPTY),
    ):
        runs.append(
            await load(name, server.port, server.proc.pid, work, concurrency, check, time_limit)
        )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per pass")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server(args.bare_server)
        return

    import uvloop  # the load generator's loop; the bench needs it like serve does

    token = secrets.token_hex(16)
    account_sid = "AC" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.db"
        config = tmp / "config.toml"
        config.write_text(
            f'[twilio]\naccount_sid = "{account_sid}"\nfrom_number = "{FROM_NUMBER}"\n'
            f'public_url = "{PUBLIC_URL}"\n\n[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GRASSROOTS_", "TWILIO_"))  # only this bench's settings
        }
        env |= {
            "TWILIO_AUTH_TOKEN": token,
            "GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        }
        cli = [sys.executable, "-m", "bot", "--config", str(config)]
        seed(tmp, args.members, cli, env)
        work = build_workload(args.requests, args.members, account_sid, token)

        servers: list[Server] = []
        try:
            pipeline_port, bare_port = free_port(), free_port()
            serve = [*cli, "serve", "--port", str(pipeline_port)]
            bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
            servers.append(start_server("grassroots serve", serve, env, tmp, pipeline_port))
            servers.append(start_server("bare endpoint", bare, env, tmp, bare_port))
            runs = uvloop.run(
                drive(servers[1], servers[0], work, args.concurrency, args.time_limit)
            )
        finally:
            for server in servers:
                stop_server(server)
        pipeline_log = servers[0].tail()
        stored = check_storage(db, work, runs[1])

    bare1, pipeline, bare2 = runs
    bare_rate = (bare1.rate + bare2.rate) / 2
    ratio = pipeline.rate / bare_rate
    deeds = sum(work.is_deed)
    print(
        f"requests: {args.requests} signed webhooks ({deeds} deed reports from {args.members} "
        f"members, {args.requests - deeds} poll-style replies), {args.concurrency} keep-alive "
        f"connections over loopback, {os.cpu_count()} CPUs"
    )
    for run in runs:
        print(describe(run, args.requests))
    # Requests per CPU-second of this process: what one core of load generator can drive.
    client_cpu = max(bare1.client_cpu + bare2.client_cpu, 1e-3)
    print(
        f"generator ceiling: ~{(bare1.answered + bare2.answered) / client_cpu:,.0f} req/s per "
        "CPU-second of this process (bare passes)"
    )
    print(
        f"ratio: {pipeline.rate:,.0f} / {bare_rate:,.0f} (mean of the bare passes) = {ratio:.2f}"
        f" (target {TARGET}); pipeline p99 {pipeline.percentile(0.99) * 1000:.0f} ms "
        f"(target < {P99_TARGET_S * 1000:.0f})"
    )
    exact = stored.missing == 0 and stored.rows == stored.distinct
    print(
        f"stored: {stored.rows} inbound messages, {stored.distinct} distinct provider ids "
        f"({stored.rows - stored.distinct} duplicates); answered 200: {stored.ok}, of them "
        f"not stored: {stored.missing}, not handled: {stored.unhandled}; stored without a 200: "
        f"{stored.extra}; every 200 stored exactly once: {'yes' if exact else 'NO'}; "
        f"200s == distinct stored: {'yes' if stored.ok == stored.distinct else 'no'}"
    )
    print(
        f"deeds: {stored.deeds} stored; answered 200 with other than one deed per report and "
        f"none per reply: {stored.wrong_deeds}"
    )
    bad_bare = bare1.bad_replies + bare2.bad_replies
    print(
        f"replies: {pipeline.bad_replies} deed reports answered 200 without a TwiML <Message> "
        f"saying it was recorded; {bad_bare} bare answers not the empty TwiML"
    )
    failures = []
    if stored.missing or stored.rows != stored.distinct:
        failures.append("a message answered 200 was not stored exactly once")
    if stored.unhandled or stored.wrong_deeds:
        failures.append("a message answered 200 was not handled, or its deed not stored once")
    if pipeline.bad_replies:
        failures.append("deed reports answered without a recorded-reply TwiML")
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    if failures and pipeline_log:
        print(f"server log tail:\n{pipeline_log}", file=sys.stderr)
    print(f"bench sms_webhook: ratio {ratio:.2f} (target {TARGET})")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
