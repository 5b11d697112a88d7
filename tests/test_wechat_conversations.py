"""Conversations over WeChat: the real ASGI app on loopback, callbacks made by the fake
platform (plain and safe mode), replies read back from the passive answer or from the fake
customer-service API. Everything goes through the same router as SMS and Telegram."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from bot.app import App
from bot.cli import main
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.messages import Address, AddressKind, Outbound
from bot.web.app import create_web_app
from storage.models import Role
from tests.conftest import (
    KEY_ENV,
    MEMBER,
    SECRETARY,
    START,
    VILLAGER,
    Phone,
    populate_roster,
)
from tests.fake_wechat import (
    AES_KEY,
    APP_ID,
    APP_SECRET,
    TOKEN,
    FakeApi,
    Platform,
    event_xml,
    reply_text,
    text_xml,
)
from tests.servers import serve_asgi

VILLAGER_ID = "oV-Fv5Zq3aYyQz_newcomer01"
MEMBER_ID = "oV-Fv5Zq3aYyQz_member0001"
WELCOME = "欢迎加入东坡村党支部（争创主题：脱贫致富）！评议和通知会发到这里。回复“帮助”查看用法。"


@pytest.fixture
async def fake() -> AsyncIterator[FakeApi]:
    api = FakeApi()
    async with serve_asgi(api.app()) as url:
        api.url = url
        yield api


def wechat_env(db_url: str) -> dict[str, str]:
    return {
        "GRASSROOTS_DATABASE_URL": db_url,
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_ENCODING_AES_KEY": AES_KEY,
        "WECHAT_APP_SECRET": APP_SECRET,
        **KEY_ENV,
    }


def wechat_config(
    tmp_path: Path, db_url: str, api_url: str, *, safe: bool = True, reply_seconds: float = 4.0
) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[wechat]\napp_id = "{APP_ID}"\napi_base_url = "{api_url}"\n'
        f"safe_mode = {'true' if safe else 'false'}\nreply_seconds = {reply_seconds}\n"
        "[scheduler]\nenabled = false\n"
    )
    return load_config(path, env=wechat_env(db_url))


@dataclass
class Site:
    url: str
    app: App
    client: httpx.AsyncClient
    fake: FakeApi
    platform: Platform
    safe: bool

    async def callback(self, xml: str) -> httpx.Response:
        query, body = self.platform.post(xml, self.app.clock.now(), safe=self.safe)
        return await self.client.post(self.url + "/wechat", params=query, content=body)

    async def answer(self, xml: str, openid: str) -> str | None:
        """The passive reply's text, or None for "success" (nothing passive)."""
        response = await self.callback(xml)
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        return reply_text(self.platform.open_reply(response.text, safe=self.safe), to=openid)


@asynccontextmanager
async def serving(config: Config, clock: FixedClock, fake: FakeApi) -> AsyncIterator[Site]:
    web = create_web_app(config, clock, with_scheduler=False)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        app: App = web.state.bot
        await populate_roster(app)
        yield Site(url, app, client, fake, Platform(), config.wechat.safe_mode)


class Follower:
    """A WeChat user talking to the account: `await follower.says("汇报 ...")`."""

    def __init__(self, site: Site, openid: str) -> None:
        self.site = site
        self.openid = openid

    async def says(self, text: str, msg_id: int | None = None) -> str | None:
        msg_id = msg_id or self.site.platform.next_msg_id()
        xml = text_xml(self.openid, text, msg_id, self.site.app.clock.now())
        return await self.site.answer(xml, self.openid)

    async def event(self, event: str, key: str | None = None) -> str | None:
        xml = event_xml(self.openid, event, self.site.app.clock.now(), key)
        return await self.site.answer(xml, self.openid)


async def roles_of(app: App, openid: str) -> list[tuple[str, str]]:
    rows = await app.repos.db.fetch(
        "SELECT o.code, r.role FROM addresses a JOIN roles r ON r.person_id = a.person_id "
        "JOIN organisations o ON o.id = r.org_id WHERE a.kind = 'wechat' AND a.value = :v",
        {"v": openid},
    )
    return [(row["code"], row["role"]) for row in rows]


async def stored(app: App, openid: str) -> list[dict[str, Any]]:
    return await app.repos.db.fetch(
        "SELECT provider_id, status, handler FROM inbound_messages "
        "WHERE channel = 'wechat' AND sender = :v ORDER BY id",
        {"v": openid},
    )


@pytest.mark.parametrize("safe", [True, False], ids=["safe", "plain"])
async def test_a_villager_scans_the_branch_poster_answers_a_poll_and_leaves(
    safe, fake, tmp_path, sqlite_url
):
    clock = FixedClock(START)
    async with serving(
        wechat_config(tmp_path, sqlite_url, fake.url, safe=safe), clock, fake
    ) as site:
        villager = Follower(site, VILLAGER_ID)
        # Scanning the poster's QR code follows the account and joins 东坡村 in one step.
        assert await villager.event("subscribe", "qrscene_HX0101") == WELCOME
        assert await roles_of(site.app, VILLAGER_ID) == [("HX0101", Role.PUBLIC.value)]

        # The secretary opens a poll by SMS; the villager gets it on WeChat, numbered.
        secretary = Phone(site.app, SECRETARY)
        await secretary.says("评议 您对村里修路满意吗？")
        [opened] = await secretary.says("确认")
        assert opened.startswith("评议P1已发出"), opened
        [asked] = await fake.wait_for(1)
        assert asked.params["touser"] == VILLAGER_ID
        assert asked.params["text"]["content"].endswith("1. 满意\n2. 基本满意\n3. 不满意")

        thanks = await villager.says("1")
        assert thanks == "已记录：满意（P1）。谢谢参与！截止后把结果发给您。"

        # Unfollowing is an opt-out: the next broadcast leaves them out.
        assert await villager.event("unsubscribe") is None
        row = await site.app.repos.db.fetchrow(
            "SELECT opted_out_at FROM addresses WHERE kind = 'wechat' AND value = :v",
            {"v": VILLAGER_ID},
        )
        assert row is not None and row["opted_out_at"] is not None


async def linked_member(site: Site) -> Follower:
    """李秀英, whose WeChat is linked to the phone the roster has (as 绑定 does)."""
    now = site.app.clock.now()
    await site.app.repos.people.link(
        Address(AddressKind.WECHAT, MEMBER_ID), Address(AddressKind.SMS, MEMBER), now
    )
    return Follower(site, MEMBER_ID)


async def deeds(app: App) -> int:
    return int(await app.repos.db.fetchval("SELECT COUNT(*) FROM deeds"))


async def test_a_member_reports_and_a_retried_msgid_is_handled_once(fake, tmp_path, db_url):
    clock = FixedClock(START)
    async with serving(wechat_config(tmp_path, db_url, fake.url), clock, fake) as site:
        member = await linked_member(site)
        first = await member.says("汇报 帮五保户修好了屋顶", msg_id=6001)
        assert first == "已记录【服务群众】。本周第1条，连续1天。谢谢！"
        # WeChat delivers it again (it did not hear us in time): recorded once, not redone.
        assert await member.says("汇报 帮五保户修好了屋顶", msg_id=6001) is None
        assert await deeds(site.app) == 1
        assert [r["provider_id"] for r in await stored(site.app, MEMBER_ID)] == ["6001"]

        # The menu's 我的 button is the keyword 查询.
        record = await member.event("CLICK", "ME")
        assert (
            record == "本周1条，累计1条：学习0/0，佳绩0/0，服务1/1，守法0/0，正气0/0（本周/累计）"
        )
        assert fake.sent() == []  # everything was answered passively


async def test_a_slow_answer_follows_through_customer_service_after_success(
    fake, tmp_path, sqlite_url
):
    clock = FixedClock(START)
    config = wechat_config(tmp_path, sqlite_url, fake.url, reply_seconds=0.2)
    async with serving(config, clock, fake) as site:
        member = await linked_member(site)
        router = site.app.router
        respond = router.respond

        async def slow(*args: Any) -> Any:
            await asyncio.sleep(0.6)  # past reply_seconds: a slow database, say
            return await respond(*args)

        router.respond = slow  # type: ignore[method-assign]
        assert await member.says("汇报 组织党员学习", msg_id=6101) is None  # "success"
        [late] = await fake.wait_for(1)
        assert late.params["touser"] == MEMBER_ID
        assert late.params["text"]["content"] == "已记录【学习提高】。本周第1条，连续1天。谢谢！"
        assert await deeds(site.app) == 1
        [row] = await stored(site.app, MEMBER_ID)
        assert (row["status"], row["handler"]) == ("handled", "deed")


async def test_events_are_deduplicated_by_sender_and_time(fake, tmp_path, sqlite_url):
    clock = FixedClock(START)
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        villager = Follower(site, VILLAGER_ID)
        assert await villager.event("subscribe", "qrscene_HX0101") == WELCOME
        assert await villager.event("subscribe", "qrscene_HX0101") is None  # a retry
        assert len(await stored(site.app, VILLAGER_ID)) == 1
        assert await roles_of(site.app, VILLAGER_ID) == [("HX0101", Role.PUBLIC.value)]


async def test_only_wechat_gets_in(fake, tmp_path, sqlite_url):
    clock = FixedClock(START)
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        query = site.platform.verification(clock.now(), "echo-123")
        answer = await site.client.get(site.url + "/wechat", params=query)
        assert (answer.status_code, answer.text) == (200, "echo-123")

        forged = {**site.platform.verification(clock.now()), "signature": "0" * 40}
        assert (await site.client.get(site.url + "/wechat", params=forged)).status_code == 403

        xml = text_xml(MEMBER_ID, "汇报 假的", 6201, clock.now())
        query, body = site.platform.post(xml, clock.now(), safe=True)
        query["msg_signature"] = "0" * 40
        response = await site.client.post(site.url + "/wechat", params=query, content=body)
        assert response.status_code == 403
        # In safe mode the plain signature (which does not cover the body) is not enough.
        query, body = site.platform.post(xml, clock.now(), safe=False)
        response = await site.client.post(site.url + "/wechat", params=query, content=body)
        assert response.status_code == 403
        assert await stored(site.app, MEMBER_ID) == []


# --- the CLI ------------------------------------------------------------------------------


async def test_cli_makes_a_branch_qr_code_and_sets_the_menu(fake, tmp_path, sqlite_url):
    config = wechat_config(tmp_path, sqlite_url, fake.url)
    async with await App.open(config) as app:  # an organisation to make a code for
        await populate_roster(app)
    env = {**wechat_env(sqlite_url), "GRASSROOTS_CONFIG": str(tmp_path / "config.toml")}
    runner = CliRunner()
    png = tmp_path / "HX0101.png"

    def cli(*args: str) -> Any:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    made = await asyncio.to_thread(cli, "wechat", "qrcode", "--org", "hx0101", "--out", str(png))
    assert made.exit_code == 0, made.output
    assert "东坡村党支部（HX0101）" in made.output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    [qr] = fake.sent("qrcode/create")
    assert qr.params["action_name"] == "QR_LIMIT_STR_SCENE"  # permanent: posters stay up
    assert qr.params["action_info"] == {"scene": {"scene_str": "HX0101"}}

    unknown = await asyncio.to_thread(cli, "wechat", "qrcode", "--org", "XX99")
    assert unknown.exit_code == 2 and "没有组织 XX99" in unknown.output

    menu = await asyncio.to_thread(cli, "wechat", "menu")
    assert menu.exit_code == 0, menu.output
    [created] = fake.sent("menu/create")
    assert created.params["button"] == [
        {"type": "click", "name": "汇报", "key": "REPORT"},
        {"type": "click", "name": "评议", "key": "POLL"},
        {"type": "click", "name": "我的", "key": "ME"},
    ]


async def test_a_bound_villager_silent_for_48_hours_gets_the_poll_by_sms(
    fake, tmp_path, sqlite_url
):
    """Outside the customer-service window WeChat may not be asked at all: the outbox knows
    it from the follower's last message and sends the poll to the roster phone instead."""
    clock = FixedClock(START)
    fake.now = clock.now
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        villager = Follower(site, VILLAGER_ID)
        assert await villager.event("subscribe", "qrscene_HX0101") == WELCOME
        fake.heard(VILLAGER_ID, clock.now())
        await villager.says(f"绑定 {VILLAGER[3:]}")
        [text] = await sms_to(site.app, VILLAGER)
        code = re.search(r"\d{6}", text)
        assert code is not None, text
        assert "已绑定" in (await villager.says(code.group(0)) or "")
        clock.advance(timedelta(hours=49))

        secretary = Phone(site.app, SECRETARY)
        await secretary.says("评议 您对村里修路满意吗？")
        await secretary.says("确认")
        row = await settled(site.app)
        assert row is not None and row["status"] == "failed"
        assert "SMS" in row["last_error"], row["last_error"]
        for _ in range(100):
            texts = await sms_to(site.app, VILLAGER)
            if len(texts) == 2:
                break
            await asyncio.sleep(0.05)
        assert "您对村里修路满意吗？" in texts[-1], texts
        assert fake.texts_to(VILLAGER_ID) == []  # WeChat was never asked


async def test_the_platforms_own_refusal_is_recorded_with_its_code(fake, tmp_path, sqlite_url):
    """Where the local count thinks the window open and WeChat says otherwise (45015), the
    send fails as the platform's limit with WeChat's code; a follower with no phone on the
    roster has nowhere else to be reached."""
    clock = FixedClock(START)
    fake.now = clock.now
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        villager = Follower(site, VILLAGER_ID)
        assert await villager.event("subscribe", "qrscene_HX0101") == WELCOME
        # The fake platform never heard this follower: its window is closed.
        secretary = Phone(site.app, SECRETARY)
        await secretary.says("评议 您对村里修路满意吗？")
        await secretary.says("确认")
        await fake.wait_for(1)  # the dispatcher tried; its outcome is stored right after
        row = await settled(site.app)
        assert row is not None and row["status"] == "failed"
        assert row["error_code"] == "45015"
        assert "response out of time limit" in row["last_error"]
        assert "no usable phone" in row["last_error"]
        assert fake.texts_to(VILLAGER_ID) == []  # refused, not delivered


async def sms_to(app: App, number: str) -> list[str]:
    rows = await app.repos.db.fetch(
        "SELECT body FROM outbox WHERE address_kind = 'sms' AND address = :a ORDER BY id",
        {"a": number},
    )
    return [r["body"] for r in rows]


async def settled(app: App) -> dict[str, Any] | None:
    """The WeChat outbox row once it is no longer being sent (bounded wait)."""
    row = None
    for _ in range(200):
        row = await app.repos.db.fetchrow(
            "SELECT status, error_code, last_error FROM outbox WHERE address_kind = 'wechat'"
        )
        if row is not None and row["status"] not in ("pending", "sending"):
            break
        await asyncio.sleep(0.05)
    return row


async def test_without_an_access_token_the_channel_is_degraded_not_down(fake, tmp_path, sqlite_url):
    """A wrong AppSecret (or an IP not on the account's whitelist) shows in /healthz at
    start; callbacks are still answered passively, and the channel comes up once WeChat
    gives a token."""
    clock = FixedClock(START)
    fake.secret = "the secret the account really has"
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        health = (await site.client.get(site.url + "/healthz")).json()
        assert health["status"] == "degraded"
        assert health["degraded"]["wechat"]["error"].startswith("40125")
        member = await linked_member(site)
        assert await member.event("CLICK", "ME") is not None  # answered all the same

        fake.secret = APP_SECRET  # the operator fixed it on the platform's side
        async with asyncio.timeout(10):
            while not site.app.health["wechat"].ok:  # noqa: ASYNC110 (a retry with backoff)
                await asyncio.sleep(0.1)
        assert (await site.client.get(site.url + "/healthz")).json()["status"] == "ok"


async def test_an_answer_too_long_for_a_passive_reply_goes_by_customer_service(
    fake, tmp_path, sqlite_url
):
    clock = FixedClock(START)
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        member = await linked_member(site)
        router = site.app.router
        respond = router.respond
        long = "修" * 1000  # 3,000 bytes: past the 2,048 of one text message

        async def verbose(recorded: Any, inbound: Any) -> Any:
            await respond(recorded, inbound)
            return [Outbound(inbound.sender, long)]

        router.respond = verbose  # type: ignore[method-assign]
        assert await member.says("查询") is None  # "success": nothing passive
        await fake.wait_for(2)
        assert "".join(fake.texts_to(MEMBER_ID)) == long


async def test_an_unbound_follower_reporting_is_told_how_to_bind(fake, tmp_path, sqlite_url):
    """A member whose WeChat is nobody on the roster yet cannot share a contact as on
    Telegram: the answer says how to bind by a code instead."""
    clock = FixedClock(START)
    async with serving(wechat_config(tmp_path, sqlite_url, fake.url), clock, fake) as site:
        stranger = Follower(site, MEMBER_ID)
        reply = await stranger.says("汇报 今天帮五保户挑水")
        assert reply is not None and "绑定 手机号" in reply, reply
        assert "/link" not in reply
        assert await site.app.repos.db.fetchval("SELECT COUNT(*) FROM deeds") == 0
