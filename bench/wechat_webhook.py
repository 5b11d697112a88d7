"""WeChat callback benchmark: `grassroots serve` on SQLite vs a bare ASGI endpoint, safe mode.

    python bench/wechat_webhook.py [--requests 5000] [--members 2000] [--concurrency 64]

Two servers run as subprocesses under the same uvicorn settings (uvloop, httptools, one
worker, log level warning): `grassroots serve` with the WeChat channel on in safe mode, and
a bare ASGI app (this file, `--bare-server PORT`) that does what any safe-mode endpoint must
(checks msg_signature, decrypts and parses the XML with wechatpy) and answers "success". The
same callbacks, encrypted and signed as WeChat does (tests/fake_wechat.py's Platform), go to
each over loopback on persistent HTTP/1.1 connections, in the order bare, pipeline, bare:
about 90% deed reports from members whose OpenIDs are linked to their phones, 10% poll-style
digit replies from members and from followers on no roster (answered with help).

`serve` answers each callback passively, in its response, sealed with the callback's nonce:
the bench opens every pipeline answer after the pass and checks that each deed report was
answered "已记录…". WeChat allows 5 seconds; the pipeline's p99 is reported against 1 s.
Afterwards the database is read to check that every callback answered 200 was stored once.
Ends with `bench wechat_webhook: ratio X.XX (target 0.5)`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
    free_port,
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fake_wechat import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    Platform,
    reply_text,
    text_xml,
)

TARGET = 0.5
P99_TARGET_S = 1.0  # well under WeChat's 5 seconds
POLL_EVERY = 10
POLL_REPLIES = ("1", "2", "１")
TAGS = ("#服务", "#学习", "#正气", "3 ", "")
RECORDED = "已记录"  # the zh-CN deed.recorded reply begins so
SUCCESS = b"success"
STOP_S = 20.0
FIRST_MSG_ID = 24_000_000_000_000_000


def member_openid(i: int) -> str:
    return f"oBenchMember{i:010d}"


def stranger_openid(i: int) -> str:
    return f"oBenchStranger{i:08d}"


# --- The bare endpoint (runs in its own process) --------------------------------------------


def bare_factory():  # type: ignore[no-untyped-def]
    from urllib.parse import parse_qsl

    from wechatpy import parse_message
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
        """Check msg_signature, decrypt, parse; answer "success"."""
        if await answer_plumbing(scope, receive, send):
            return
        raw = await read_body(receive)
        query = dict(parse_qsl(scope["query_string"].decode()))
        try:
            xml = crypto.decrypt_message(
                raw, query["msg_signature"], query["timestamp"], query["nonce"]
            )
            ok = parse_message(xml).id > 0
        except Exception:
            ok = False
        await answer(send, 200 if ok else 403, SUCCESS if ok else b"")

    return bare_app


# --- Requests ------------------------------------------------------------------------------


@dataclass(slots=True)
class Workload:
    requests: list[bytes]
    msg_ids: list[str]
    is_deed: bytearray


def build_workload(count: int, members: int) -> Workload:
    """Every callback encrypted and signed before any clock starts. Their timestamps are
    now: the service refuses callbacks more than 5 minutes off, so keep passes short."""
    from datetime import UTC, datetime

    platform = Platform()
    at = datetime.now(UTC)
    requests, msg_ids, is_deed = [], [], bytearray(count)
    for n in range(count):
        if n % POLL_EVERY == POLL_EVERY - 1:
            k = n // POLL_EVERY
            sender = member_openid(k % members) if k % 2 else stranger_openid(k % members)
            text = POLL_REPLIES[k % len(POLL_REPLIES)]
        else:
            sender = member_openid(n % members)
            text = f"汇报 {TAGS[n % len(TAGS)]}今天帮邻居修水渠 {n}"
            is_deed[n] = 1
        msg_id = FIRST_MSG_ID + n
        query, body = platform.post(
            text_xml(sender, text, msg_id, at), at, safe=True, openid=sender
        )
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        head = (
            f"POST /wechat?{qs} HTTP/1.1\r\n"
            "Host: bot.example.org\r\n"
            "User-Agent: Mozilla/4.0\r\n"
            "Accept: */*\r\n"
            "Content-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
        msg_ids.append(str(msg_id))
    return Workload(requests, msg_ids, is_deed)


# --- Checks --------------------------------------------------------------------------------


def not_success(n: int, body: bytes) -> bool:
    return body != SUCCESS


class Answers:
    """The pipeline's answers, kept to be opened after the pass (not on the clock)."""

    def __init__(self, count: int) -> None:
        self.bodies: list[bytes | None] = [None] * count

    def keep(self, n: int, body: bytes) -> bool:
        self.bodies[n] = body
        return False

    def unrecorded(self, work: Workload) -> int:
        """Deed reports whose passive answer does not open to "已记录…"."""
        platform, bad = Platform(), 0
        for n, body in enumerate(self.bodies):
            if not work.is_deed[n] or body is None:
                continue
            try:
                text = reply_text(platform.open_reply(body.decode(), safe=True))
            except (AssertionError, ValueError):
                text = ""
            bad += not text.startswith(RECORDED)
        return bad


def link_openids(db: Path, members: int) -> None:
    """Each member's OpenID linked to their phone, as 绑定 would have done."""
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())  # the engine's format
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO addresses (person_id, kind, value, created_at)"
                " SELECT person_id, 'wechat', ?, ? FROM addresses"
                " WHERE kind = 'sms' AND value = ?",
                ((member_openid(i), at, member_phone(i)) for i in range(members)),
            )
        linked = conn.execute("SELECT COUNT(*) FROM addresses WHERE kind = 'wechat'").fetchone()
    finally:
        conn.close()
    if linked[0] != members:
        raise SystemExit(f"linked {linked[0]} OpenIDs, not {members}: the import changed?")


def check_storage(db: Path, work: Workload, run: Run) -> Stored:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT m.provider_id, m.status, COUNT(d.id) FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'wechat'"
            " GROUP BY m.id"
        ).fetchall()
    finally:
        conn.close()
    return compare_stored(rows, work.msg_ids, work.is_deed, run)


async def drive(
    bare: Server,
    pipeline: Server,
    work: Workload,
    answers: Answers,
    concurrency: int,
    time_limit: float,
) -> list[Run]:
    await asyncio.gather(wait_ready(bare), wait_ready(pipeline))
    runs = []
    for name, server, check in (
        ("bare endpoint, pass 1", bare, not_success),
        ("grassroots serve", pipeline, answers.keep),
        ("bare endpoint, pass 2", bare, not_success),
    ):
        runs.append(await load(name, server, work.requests, concurrency, time_limit, check))
    return runs


def main() -> None:
    parser = arg_parser(__doc__)
    parser.set_defaults(requests=5_000)
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_server(bare_factory(), args.bare_server)
        return

    import uvloop

    with tempfile.TemporaryDirectory(prefix="bench-wechat-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "bench.db"
        config = tmp / "config.toml"
        config.write_text(
            # The API is not used when every answer is passive: a closed port shows it.
            f'[wechat]\napp_id = "{APP_ID}"\napi_base_url = "http://127.0.0.1:9"\n'
            'safe_mode = true\n\n[scheduler]\nenabled = false\n\n[log]\nlevel = "WARNING"\n',
            encoding="utf-8",
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GRASSROOTS_", "TWILIO_", "TELEGRAM_", "WECHAT_"))
        }
        env |= {
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": AES_KEY,
            "WECHAT_APP_SECRET": APP_SECRET,
            "GRASSROOTS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        }
        cli = [sys.executable, "-m", "bot", "--config", str(config)]
        seed_roster(tmp, args.members, cli, env)
        link_openids(db, args.members)
        work = build_workload(args.requests, args.members)
        answers = Answers(args.requests)

        servers: list[Server] = []
        try:
            pipeline_port, bare_port = free_port(), free_port()
            serve = [*cli, "serve", "--port", str(pipeline_port)]
            bare = [sys.executable, __file__, "--bare-server", str(bare_port)]
            servers.append(start_server("grassroots serve", serve, env, tmp, pipeline_port))
            servers.append(start_server("bare endpoint", bare, env, tmp, bare_port))
            runs = uvloop.run(
                drive(servers[1], servers[0], work, answers, args.concurrency, args.time_limit)
            )
        finally:
            for server in servers:
                stop_server(server, STOP_S)
        pipeline_log = servers[0].tail()
        stored = check_storage(db, work, runs[1])

    bare1, pipeline, bare2 = runs
    deeds = sum(work.is_deed)
    print(
        f"requests: {args.requests} safe-mode callbacks ({deeds} deed reports from "
        f"{args.members} linked members, {args.requests - deeds} poll-style replies), "
        f"{args.concurrency} keep-alive connections over loopback, {os.cpu_count()} CPUs"
    )
    ratio = report_passes(runs, args.requests, TARGET, P99_TARGET_S)
    print_stored(stored, "MsgIds")
    unrecorded = answers.unrecorded(work)
    bad_bare = bare1.bad_replies + bare2.bad_replies
    print(
        f"replies: {unrecorded} deed reports not answered passively with 已记录 (sealed); "
        f"{bad_bare} bare answers not 'success'"
    )
    failures = []
    if not stored.exact:
        failures.append("a callback answered 200 was not stored exactly once")
    if stored.unhandled or stored.wrong_deeds:
        failures.append("a callback answered 200 was not handled, or its deed not stored once")
    if unrecorded:
        failures.append("deed reports answered without a passive recorded reply")
    if pipeline.percentile(0.99) >= 5.0:
        failures.append("p99 past WeChat's 5-second limit")
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    if failures and pipeline_log:
        print(f"server log tail:\n{pipeline_log}", file=sys.stderr)
    print(f"bench wechat_webhook: ratio {ratio:.2f} (target {TARGET})")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
