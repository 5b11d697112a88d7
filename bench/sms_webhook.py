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
import os
import secrets
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator
from webhook_load import (
    Check,
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

TARGET = 0.6
P99_TARGET_S = 1.0
PUBLIC_URL = "https://bot.example.org"
INBOUND_PATH = "/sms/inbound"
FROM_NUMBER = "+12025550100"  # the service's own number: the webhook's To
POLL_EVERY = 10  # every tenth request is a poll-style reply
POLL_REPLIES = ("1", "2", "１")  # full-width digits come from Chinese input methods
TAGS = ("#服务", "#学习", "#正气", "3 ", "")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response />'
# A deed report's answer: a TwiML <Message> with the zh-CN deed.recorded reply, which begins so.
RECORDED_MESSAGE = "<Message>已记录".encode()
STOP_S = 20.0


# --- The bare endpoint (runs in its own process) --------------------------------------------


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the body, parse the form as the product does, answer the empty TwiML."""
    if await answer_plumbing(scope, receive, send):
        return
    raw = await read_body(receive)
    form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    if form.get("MessageSid"):
        await answer(send, 200, EMPTY_TWIML, b"application/xml")
    else:
        await answer(send, 400, b"")


# --- Requests ------------------------------------------------------------------------------


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


# --- Checks --------------------------------------------------------------------------------


def empty_twiml(n: int, body: bytes) -> bool:
    """The bare endpoint's check: a bad reply is anything but the empty TwiML."""
    return body != EMPTY_TWIML


def recorded_check(work: Workload) -> Check:
    """The pipeline's check: a bad reply is a deed report's not saying it was recorded."""
    is_deed = work.is_deed

    def bad(n: int, body: bytes) -> bool:
        return bool(is_deed[n]) and not (body.startswith(b"<?xml") and RECORDED_MESSAGE in body)

    return bad


def check_storage(db: Path, work: Workload, run: Run) -> Stored:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT m.provider_id, m.status, COUNT(d.id) FROM inbound_messages m"
            " LEFT JOIN deeds d ON d.inbound_id = m.id WHERE m.channel = 'sms' GROUP BY m.id"
        ).fetchall()
    finally:
        conn.close()
    return compare_stored(rows, work.sids, work.is_deed, run)


async def drive(
    bare: Server, pipeline: Server, work: Workload, concurrency: int, time_limit: float
) -> list[Run]:
    await asyncio.gather(wait_ready(bare), wait_ready(pipeline))
    # Bare, pipeline, bare: the same load back to back; the bare passes bracket the pipeline.
    runs = []
    for name, server, bad_reply in (
        ("bare endpoint, pass 1", bare, empty_twiml),
        ("grassroots serve", pipeline, recorded_check(work)),
        ("bare endpoint, pass 2", bare, empty_twiml),
    ):
        runs.append(await load(name, server, work.requests, concurrency, time_limit, bad_reply))
    return runs


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_server(bare_app, args.bare_server)
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
        seed_roster(tmp, args.members, cli, env)
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
                stop_server(server, STOP_S)
        pipeline_log = servers[0].tail()
        stored = check_storage(db, work, runs[1])

    bare1, pipeline, bare2 = runs
    deeds = sum(work.is_deed)
    print(
        f"requests: {args.requests} signed webhooks ({deeds} deed reports from {args.members} "
        f"members, {args.requests - deeds} poll-style replies), {args.concurrency} keep-alive "
        f"connections over loopback, {os.cpu_count()} CPUs"
    )
    ratio = report_passes(runs, args.requests, TARGET, P99_TARGET_S)
    print_stored(stored, "provider ids")
    bad_bare = bare1.bad_replies + bare2.bad_replies
    print(
        f"replies: {pipeline.bad_replies} deed reports answered 200 without a TwiML <Message> "
        f"saying it was recorded; {bad_bare} bare answers not the empty TwiML"
    )
    failures = []
    if not stored.exact:
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
