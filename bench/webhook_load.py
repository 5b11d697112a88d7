"""What the webhook benchmarks (sms_webhook.py, telegram_webhook.py) share: an HTTP/1.1
keep-alive load generator on raw asyncio streams, the servers under test as subprocesses,
the bare ASGI plumbing, the roster import, and the comparison of answers with stored rows.

Each benchmark keeps what is its channel's own: the payloads and their signing, the config,
the database query behind the storage check, and the lines only it prints. Imported as
`webhook_load`: run as a script, a benchmark has this directory first on sys.path.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_S = 60.0
BRANCHES = 20  # the roster's branches under one county

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- Bare ASGI plumbing (for the apps the benchmarks run in their own processes) -----------


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    chunks, more = [], True
    while more:
        event = await receive()
        chunks.append(event.get("body", b""))
        more = event.get("more_body", False)
    return b"".join(chunks)


async def answer(send: Send, status: int, body: bytes, media: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if media:
        headers.append((b"content-type", media))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_plumbing(scope: Scope, receive: Receive, send: Send) -> bool:
    """Lifespan events, non-HTTP scopes and the /healthz probe, which every bench app answers
    alike; True if `scope` was one of them, so the app has nothing left to do."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return True
    if scope["type"] != "http":
        return True
    if scope["path"] == "/healthz":
        await answer(send, 200, b'{"status":"ok"}', b"application/json")
        return True
    return False


def run_server(app: App, port: int) -> None:
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


# --- Load generator ------------------------------------------------------------------------

# Whether a body answered 200 fails the pass's check, given the request's index.
Check = Callable[[int, bytes], bool]


@dataclass(slots=True)
class Run:
    name: str
    elapsed: float
    statuses: array[int]  # HTTP status per request; 0 = no answer (connection error, time limit)
    latencies: array[float]  # seconds per request, for those answered
    bad_replies: int  # answered 200 with a body that fails the pass's check
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
    requests: list[bytes],
    turns: Iterator[int],
    bad_reply: Check,
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
                writer.write(requests[n])
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
                if status == 200 and bad_reply(n, body):
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
    server: Server,
    requests: list[bytes],
    concurrency: int,
    time_limit: float,
    bad_reply: Check,
) -> Run:
    """Every request once, over `concurrency` keep-alive connections, as fast as answered."""
    count = len(requests)
    statuses = array("H", bytes(2 * count))
    latencies = array("d", bytes(8 * count))
    tally = _Tally()
    port, pid = server.port, server.proc.pid
    # Connections are open before the clock starts: the run measures requests, not handshakes.
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    turns = iter(range(count))
    server_cpu0, client_cpu0 = cpu_seconds(pid), time.process_time()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            await asyncio.gather(
                *(
                    _one_connection(port, requests, turns, bad_reply, statuses, latencies, tally, c)
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
        cpu_delta(server_cpu0, server_cpu1),
    )


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process, all threads (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


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


def stop_server(server: Server, timeout: float) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()  # SIGTERM: uvicorn drains, lifespan closes the database
        try:
            server.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"{server.name} did not stop in {timeout:.0f} s; killed", file=sys.stderr)
            server.proc.kill()
            server.proc.wait()


# --- Roster and storage --------------------------------------------------------------------


def member_phone(i: int) -> str:
    return f"+86138{i:08d}"  # what seed_roster imports as member i's phone


def seed_roster(tmp: Path, members: int, cli: list[str], env: dict[str, str]) -> None:
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

    @property
    def exact(self) -> bool:
        return self.missing == 0 and self.rows == self.distinct


def compare_stored(
    rows: list[tuple[str, str, int]], ids: list[str], is_deed: bytearray, run: Run
) -> Stored:
    """The stored (provider id, status, deed count) rows against what `run` answered 200."""
    stored = {pid: (status, deeds) for pid, status, deeds in rows}
    ok = {pid: is_deed[n] for n, pid in enumerate(ids) if run.statuses[n] == 200}
    return Stored(
        rows=len(rows),
        distinct=len(stored),
        ok=len(ok),
        missing=len(ok.keys() - stored.keys()),
        extra=len(stored.keys() - ok.keys()),
        unhandled=sum(1 for pid in ok if pid in stored and stored[pid][0] != "handled"),
        wrong_deeds=sum(1 for pid, deed in ok.items() if pid in stored and stored[pid][1] != deed),
        deeds=sum(deeds for _, deeds in stored.values()),
    )


# --- Options and report --------------------------------------------------------------------


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options both benchmarks take; each adds its own after these."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per pass")
    return parser


def describe(run: Run, count: int) -> str:
    cpu = f"server CPU {run.server_cpu / run.elapsed:.0%}" if run.server_cpu is not None else ""
    codes = Counter(run.statuses)
    answers = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(codes.items()))
    return (
        f"{run.name}: {run.rate:,.0f} req/s ({run.answered}/{count} in {run.elapsed:.2f} s), "
        f"p50 {run.percentile(0.50) * 1000:.1f} ms, p99 {run.percentile(0.99) * 1000:.1f} ms; "
        f"{cpu}, generator CPU {run.client_cpu / run.elapsed:.0%}; status {answers}"
    )


def report_passes(runs: list[Run], count: int, target: float, p99_target_s: float | None) -> float:
    """Print the three passes (bare, pipeline, bare), the generator's ceiling and the ratio
    line; return the ratio, the pipeline's rate over the mean of the bare passes."""
    bare1, pipeline, bare2 = runs
    bare_rate = (bare1.rate + bare2.rate) / 2
    ratio = pipeline.rate / bare_rate
    for run in runs:
        print(describe(run, count))
    # Requests per CPU-second of this process: what one core of load generator can drive.
    client_cpu = max(bare1.client_cpu + bare2.client_cpu, 1e-3)
    print(
        f"generator ceiling: ~{(bare1.answered + bare2.answered) / client_cpu:,.0f} req/s per "
        "CPU-second of this process (bare passes)"
    )
    p99_goal = f" (target < {p99_target_s * 1000:.0f})" if p99_target_s is not None else ""
    print(
        f"ratio: {pipeline.rate:,.0f} / {bare_rate:,.0f} (mean of the bare passes) = {ratio:.2f}"
        f" (target {target}); pipeline p99 {pipeline.percentile(0.99) * 1000:.0f} ms{p99_goal}"
    )
    return ratio


def print_stored(stored: Stored, ids: str) -> None:
    """The storage check's two lines; `ids` names the provider ids ("update ids")."""
    print(
        f"stored: {stored.rows} inbound messages, {stored.distinct} distinct {ids} "
        f"({stored.rows - stored.distinct} duplicates); answered 200: {stored.ok}, of them "
        f"not stored: {stored.missing}, not handled: {stored.unhandled}; stored without a 200: "
        f"{stored.extra}; every 200 stored exactly once: {'yes' if stored.exact else 'NO'}; "
        f"200s == distinct stored: {'yes' if stored.ok == stored.distinct else 'no'}"
    )
    print(
        f"deeds: {stored.deeds} stored; answered 200 with other than one deed per report and "
        f"none per reply: {stored.wrong_deeds}"
    )
