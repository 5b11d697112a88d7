"""What a process sends, and what stops it: the channels at start-up.

- `grassroots chat` shows the replies to its own number and sends nothing else; a channel not
  configured in a process leaves its messages waiting (not sent, not failed), and
  `broadcast status` says why, per channel (issue 11, point 2).
- `grassroots serve` checks its port and configuration before anything starts sending: on a
  busy port it exits with one line and the outbox untouched (issue 11, point 2).
- A provider that cannot be reached at start leaves its channel degraded, retried in the
  background, while SMS and /healthz go on; the channel recovers once the provider answers
  (issue 12, point 16).

The CLI cases run the real `grassroots` of the venv as subprocesses; the degraded start runs
the real ASGI app on loopback with the fake Bot API of tests/test_telegram.py.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import channel_health
from bot.texts import texts_for
from bot.web import create_web_app
from storage.repositories import open_repositories
from tests.conftest import KEY_ENV, MEMBER, MEMBER_2
from tests.logcapture import Logged, capture_logging
from tests.servers import free_port, serve_asgi
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL, form
from tests.test_sms_webhook import TOKEN as TWILIO_TOKEN
from tests.test_sms_webhook import Site as SmsSite
from tests.test_telegram import (
    MEMBER_CHAT,
    RECORDED,
    REPORT,
    SECRET,
    TOKEN,
    FakeBotApi,
    prepare,
    said,
    send,
    update,
)

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


# --- one provider down at start -----------------------------------------------------------


def both_channels(tmp_path: Path, db_url: str, bot_api: str) -> Any:
    from bot.config import load_config

    path = tmp_path / "config.toml"
    path.write_text(
        TWILIO_SECTION.format(port=free_port())
        + f'[telegram]\nenabled = true\npublic_url = "{PUBLIC_URL}"\napi_base_url = "{bot_api}"\n'
    )
    env = {
        "GRASSROOTS_DATABASE_URL": db_url,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        **KEY_ENV,
    }
    return load_config(path, env=env)


@pytest.fixture
def logged() -> Iterator[Logged]:
    yield from capture_logging()


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_health, "FIRST_RETRY", 0.05)
    monkeypatch.setattr(channel_health, "MAX_RETRY", 0.2)


async def health(client: httpx.AsyncClient, url: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(url + "/healthz")
    return response.status_code, response.json()


async def test_telegram_down_at_start_degrades_its_channel_only_then_recovers(
    tmp_path: Path, db_url: str, clock, quick_retries, logged: Logged
):
    port = free_port()  # where the Bot API will be; nothing listens there yet
    config = both_channels(tmp_path, db_url, f"http://127.0.0.1:{port}")
    web = create_web_app(config, clock, with_scheduler=False)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        app = web.state.bot
        await prepare(app, linked=True)

        status, body = await health(client, url)
        assert status == 200  # webhooks are taken: an orchestrator must not restart us
        assert body["status"] == "degraded" and body["channels"] == ["console", "sms", "telegram"]
        assert body["degraded"]["telegram"]["state"] == "degraded"
        assert body["degraded"]["telegram"]["attempts"] >= 1

        # SMS goes on meanwhile: a signed webhook is handled and answered.
        reply = await SmsSite(url, app, client).post(form("汇报 修桥", sender=MEMBER_2))
        assert reply.status_code == 200 and "已记录" in reply.text

        # A Telegram update is taken and handled; its reply waits for the channel.
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        posted = await client.post(
            url + "/telegram/webhook",
            json=update("message", 77, MEMBER_CHAT, text=REPORT),
            headers=headers,
        )
        assert posted.status_code == 200
        await asyncio.sleep(0.3)
        waiting = await app.repos.db.fetch(
            "SELECT status, attempts FROM outbox WHERE address_kind = 'telegram'"
        )
        assert [(r["status"], r["attempts"]) for r in waiting] == [("pending", 0)]

        fake = FakeBotApi()
        async with serve_asgi(fake.app(), port=port) as api:
            fake.url = api
            await fake.wait_for(1, "sendMessage")  # recovered, and the waiting reply went out
            status, body = await health(client, url)
            assert (status, body["status"], "degraded" in body) == (200, "ok", False)
    assert [said(c) for c in fake.sent()] == [send(MEMBER_CHAT, RECORDED)]
    assert fake.calls[0].method == "getMe"
    degraded = [line for line in logged.lines if "channel degraded" in line]
    assert degraded and all("WARNING bot.telegram_service" in line for line in degraded)
    assert any("reachable again" in line for line in logged.lines)
    assert TOKEN.split(":")[1] not in logged.text  # the failures name the URL, not the token


async def test_polling_down_at_start_starts_polling_once_the_api_answers(
    tmp_path: Path, db_url: str, clock, quick_retries
):
    port = free_port()
    config = both_channels(tmp_path, db_url, f"http://127.0.0.1:{port}")
    web = create_web_app(config, clock, with_scheduler=False, telegram_polling=True)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        await prepare(web.state.bot, linked=True)
        assert (await health(client, url))[1]["status"] == "degraded"
        fake = FakeBotApi()
        fake.updates.append(update("message", 78, MEMBER_CHAT, text=REPORT))
        async with serve_asgi(fake.app(), port=port) as api:
            fake.url = api
            await fake.wait_for(1, "sendMessage")
    assert [said(c) for c in fake.sent()] == [send(MEMBER_CHAT, RECORDED)]
