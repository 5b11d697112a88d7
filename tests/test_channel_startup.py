"""What a process sends, and what stops it: the channels at start-up.

- `grassroots chat` shows the replies to its own number and sends nothing else; a channel not
  configured in a process leaves its messages waiting (not sent, not failed), and
  `broadcast status` says why, per channel (issue 11, point 2).
- `grassroots serve` checks its port and configuration before anything starts sending: on a
  busy port it exits with one line and the outbox untouched (issue 11, point 2).

They run the real `grassroots` of the venv as subprocesses, on SQLite and PostgreSQL. A
provider down at start is tests/security/test_provider_down_at_start.py.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.app import App
from bot.dispatcher import Dispatcher
from bot.messages import Address, AddressKind, Outbound
from bot.outbox import deliver
from bot.texts import texts_for
from storage.repositories import open_repositories
from tests.conftest import KEY_ENV, MEMBER
from tests.servers import free_port
from tests.test_dispatcher import ZONE, FakeChannel, settings
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL
from tests.test_sms_webhook import TOKEN as TWILIO_TOKEN

GRASSROOTS = str(Path(sys.executable).parent / "grassroots")
ZH = texts_for("zh-CN")
SECRETARY = "+8613800001100"  # 张建国, secretary of HX0101 in the demo county
NOTICE = "周五晚七点在村委会开党员大会"
TWILIO_SECTION = (
    f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
    f'public_url = "{PUBLIC_URL}"\napi_base_url = "http://127.0.0.1:{{port}}"\n'
)


def grassroots(
    tmp_path: Path, db_url: str, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONIOENCODING": "utf-8",
        "GRASSROOTS_DATABASE_URL": db_url,
        **KEY_ENV,
        **env,
    }
    return subprocess.run(
        [GRASSROOTS, "--config", str(tmp_path / "config.toml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        env=environment,
        timeout=60,
    )


async def run(tmp_path: Path, db_url: str, *args: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(grassroots, tmp_path, db_url, *args, **kwargs)


async def outbox_rows(db_url: str) -> list[dict[str, Any]]:
    repos = await open_repositories(db_url)
    try:
        rows = await repos.db.fetch(
            "SELECT address_kind, status, attempts, last_error, claimed_by FROM outbox"
        )
        return [dict(row) for row in rows]
    finally:
        await repos.db.close()


def untouched(rows: list[dict[str, Any]]) -> bool:
    return all(
        (r["status"], r["attempts"], r["last_error"], r["claimed_by"]) == ("pending", 0, None, None)
        for r in rows
    )


async def demo_with_broadcast(tmp_path: Path, db_url: str, **env: str) -> str:
    assert (await run(tmp_path, db_url, "demo", **env)).returncode == 0
    sent = await run(
        tmp_path,
        db_url,
        *("broadcast", "send", "--org", "HX0101", "--role", "member", "--text", NOTICE),
        **env,
    )
    assert sent.returncode == 0, sent.stderr
    return sent.stdout.strip().splitlines()[-1]


async def test_chat_leaves_queued_sms_waiting_and_status_says_why(tmp_path: Path, db_url: str):
    (tmp_path / "config.toml").write_text('[outbox]\nquiet_hours = ""\n')
    broadcast = await demo_with_broadcast(tmp_path, db_url)
    queued = await outbox_rows(db_url)
    assert queued and untouched(queued)

    chat = await run(tmp_path, db_url, "chat", "--from", MEMBER, stdin="查询\n")
    assert chat.returncode == 0, chat.stderr
    assert NOTICE not in chat.stdout + chat.stderr  # nobody's SMS shown in this terminal
    assert len(chat.stdout.splitlines()) == 1  # the reply to 查询, and only that
    assert await outbox_rows(db_url) == queued  # still waiting, as they were

    status = await run(tmp_path, db_url, "broadcast", "status", broadcast)
    assert status.returncode == 0, status.stderr
    why = ZH.get(
        "channels.waiting_unconfigured",
        count=len(queued),
        channel=ZH.get("channels.name.sms"),
        section="twilio",
    )
    assert status.stdout.splitlines()[-1] == why


async def test_what_a_chat_queues_waits_and_the_chat_says_so(tmp_path: Path, db_url: str):
    (tmp_path / "config.toml").write_text('[outbox]\nquiet_hours = ""\n')
    assert (await run(tmp_path, db_url, "demo")).returncode == 0
    chat = await run(tmp_path, db_url, "chat", "--from", SECRETARY, stdin=f"通知 {NOTICE}\n")
    assert chat.returncode == 0, chat.stderr
    queued = await outbox_rows(db_url)
    assert queued and untouched(queued)
    assert NOTICE not in chat.stdout  # the secretary sees the acknowledgement, not the SMS
    sms = ZH.get("channels.name.sms")
    assert chat.stderr.splitlines() == [
        ZH.get("channels.chat_queued"),
        "  "
        + ZH.get("channels.waiting_unconfigured", count=len(queued), channel=sms, section="twilio"),
    ]


async def test_serve_on_a_busy_port_exits_with_one_line_and_sends_nothing(
    tmp_path: Path, db_url: str
):
    # Twilio configured (its API on a dead loopback port): a dispatcher that started would
    # claim and try the broadcast, counting attempts.
    dead = free_port()
    (tmp_path / "config.toml").write_text(
        TWILIO_SECTION.format(port=dead) + '[outbox]\nquiet_hours = ""\n'
    )
    env = {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    await demo_with_broadcast(tmp_path, db_url, **env)
    queued = await outbox_rows(db_url)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        served = await run(
            tmp_path, db_url, "serve", "--host", "127.0.0.1", "--port", str(port), **env
        )
    assert served.returncode != 0
    reason = "Address already in use"
    line = ZH.get("channels.cannot_listen", host="127.0.0.1", port=port, reason=reason)
    assert served.stderr.splitlines() == [line]
    assert await outbox_rows(db_url) == queued and untouched(queued)


async def test_print_sms_is_refused_where_sms_is_configured(tmp_path: Path, db_url: str):
    (tmp_path / "config.toml").write_text(TWILIO_SECTION.format(port=free_port()))
    served = await run(tmp_path, db_url, "serve", "--print-sms", TWILIO_AUTH_TOKEN=TWILIO_TOKEN)
    assert served.returncode == 2
    assert ZH.get("channels.print_sms_with_twilio") in served.stderr


# --- the dispatcher: only the channels it has, and only while they are up -------------------


async def queue_to(app: App, kind: AddressKind, values: list[str]) -> None:
    for value in values:
        message = Outbound(Address(kind, value), "开会通知")
        await app.repos.outbox.enqueue(f"t:{kind}:{value}", message, app.clock.now())


async def statuses(app: App) -> dict[str, list[tuple[str, int]]]:
    rows = await app.repos.db.fetch("SELECT address_kind, status, attempts FROM outbox ORDER BY id")
    found: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        found.setdefault(row["address_kind"], []).append((row["status"], row["attempts"]))
    return found


async def test_messages_for_a_channel_this_process_lacks_wait_and_hold_up_nothing(county: App):
    # A backlog of SMS older than the Telegram message, in a process without SMS: a claim of
    # the oldest due messages would take only SMS and send nothing, batch after batch.
    await queue_to(county, AddressKind.SMS, [f"+86138000{i:05d}" for i in range(30)])
    await queue_to(county, AddressKind.TELEGRAM, ["5550001"])
    telegram = FakeChannel(kind=AddressKind.TELEGRAM, channel="telegram")
    d = Dispatcher(county.repos, {AddressKind.TELEGRAM: telegram}, county.clock, settings(), ZONE)
    d.batch = 10
    assert await d.drain_once() == 1
    assert [m.to.value for m in telegram.sent] == ["5550001"]
    found = await statuses(county)
    assert found["sms"] == [("pending", 0)] * 30  # not sent, not failed, not attempted
    assert await d.drain_once() == 0


async def test_a_degraded_channel_keeps_its_messages_until_it_is_up(county: App):
    await queue_to(county, AddressKind.TELEGRAM, ["5550001"])
    await queue_to(county, AddressKind.SMS, [MEMBER])
    sms, telegram = FakeChannel(), FakeChannel(kind=AddressKind.TELEGRAM, channel="telegram")
    up = {AddressKind.SMS}
    d = Dispatcher(
        county.repos,
        {AddressKind.SMS: sms, AddressKind.TELEGRAM: telegram},
        county.clock,
        settings(),
        ZONE,
        ready=lambda kind: kind in up,
    )
    assert await d.drain_once() == 1
    assert ([m.to.value for m in sms.sent], telegram.sent) == ([MEMBER], [])
    assert (await statuses(county))["telegram"] == [("pending", 0)]
    up.add(AddressKind.TELEGRAM)  # the provider answers again
    assert await d.drain_once() == 1
    assert [m.to.value for m in telegram.sent] == ["5550001"]


async def test_deliver_leaves_a_message_for_a_missing_channel_as_it_was(county: App):
    await queue_to(county, AddressKind.SMS, [MEMBER])
    outbox_id = await county.repos.db.fetchval("SELECT id FROM outbox")
    outcome = await deliver(county.repos, {}, outbox_id, county.clock.now())
    assert outcome.status == "skipped"
    assert (await statuses(county))["sms"] == [("pending", 0)]
