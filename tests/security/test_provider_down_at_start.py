"""12.16: one provider down at start does not take the service down.

`serve` with Telegram configured used to exit (`Application startup failed`) when the Bot
API could not be reached, and SMS stopped with it. Now the Telegram channel starts degraded
and is retried in the background with backoff; SMS webhooks, /healthz and Telegram's own
webhook go on meanwhile (replies wait in the outbox); once the fake Bot API of
tests/test_telegram.py comes up on its port, the channel recovers and the replies go out.
The real ASGI app on loopback, a twilio-signed SMS, real Update JSON."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import channel_health
from bot.config import Config, load_config
from bot.web.app import create_web_app
from tests.conftest import KEY_ENV, MEMBER_2
from tests.security.conftest import Logged
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


def both_channels(tmp_path: Path, db_url: str, bot_api: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
        f'public_url = "{PUBLIC_URL}"\napi_base_url = "http://127.0.0.1:{free_port()}"\n'
        f'[telegram]\nenabled = true\npublic_url = "{PUBLIC_URL}"\napi_base_url = "{bot_api}"\n'
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


async def test_a_refused_token_degrades_telegram_with_an_error_and_sms_goes_on(
    tmp_path: Path, db_url: str, clock, fake: FakeBotApi, quick_retries, logged: Logged
):
    config = both_channels(tmp_path, db_url, fake.url)
    config = config.model_copy(update={"telegram_token": "7012345678:" + "W" * 35})
    web = create_web_app(config, clock, with_scheduler=False)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        app = web.state.bot
        await prepare(app, linked=True)
        status, body = await health(client, url)
        assert (status, body["status"]) == (200, "degraded")
        assert body["degraded"]["telegram"]["error"].startswith("InvalidToken")
        reply = await SmsSite(url, app, client).post(form("汇报 修桥", sender=MEMBER_2))
        assert reply.status_code == 200 and "已记录" in reply.text
    assert any(" ERROR bot.telegram_service: " in line for line in logged.lines)
    assert "W" * 35 not in logged.text
