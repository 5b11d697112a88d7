"""What an organiser is told a broadcast will reach before saying 确认: SMS (what costs) and
every chat channel someone is reached on, WeChat included; the count is what the outbox
then queues, channel by channel (bot/reach.py over storage/audience.reach)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.cli import main
from bot.clock import FixedClock
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.reach import CHATS, chats_text
from bot.texts import texts_for
from storage.models import Role
from tests.conftest import KEY_ENV, MEMBER, SECRETARY, VILLAGER, Phone, populate_roster
from tests.test_notices_everyday import LONG
from tests.test_polls import add_person

VILLAGER_OPENID = "oV-Fv5Zq3aYyQz_villager001"  # 赵大爷 follows the account on WeChat
MEMBER_OPENID = "oV-Fv5Zq3aYyQz_member00001"  # 李秀英 too
NEIGHBOUR = "+8613900001102"  # 钱二嫂, a villager by SMS only
NEIGHBOUR_CHAT = "5550003"  # ... who has Telegram as well, in the test that says so


async def follows_on(app: App, kind: AddressKind, value: str, phone: str) -> None:
    """The person behind `phone` reached at a chat address too (as 绑定 leaves it)."""
    await app.repos.people.link(
        Address(kind, value), Address(AddressKind.SMS, phone), app.clock.now()
    )


async def queued_by_kind(app: App) -> Counter[str]:
    rows = await app.repos.db.fetch("SELECT address_kind FROM outbox")
    return Counter(r["address_kind"] for r in rows)


@pytest.fixture
async def sqlite_county(sqlite_url: str, clock: FixedClock) -> AsyncIterator[App]:
    """The county of tests/conftest.py on SQLite only: these previews are database-neutral
    text; the one test that checks the count against the queue runs on both databases."""
    config = load_config(env={"GRASSROOTS_DATABASE_URL": sqlite_url, **KEY_ENV})
    opened = await App.open(config, clock)
    try:
        await populate_roster(opened)
        yield opened
    finally:
        await opened.close()


async def test_a_poll_preview_names_wechat_and_the_queue_matches_it(phone, county: App):
    await follows_on(county, AddressKind.WECHAT, VILLAGER_OPENID, VILLAGER)
    await add_person(county, "HX0101", "钱二嫂", NEIGHBOUR, Role.PUBLIC)
    await follows_on(county, AddressKind.TELEGRAM, NEIGHBOUR_CHAT, NEIGHBOUR)
    await add_person(county, "HX0101", "孙大哥", "+8613900001103", Role.PUBLIC)
    secretary = phone(SECRETARY)

    assert await secretary.says("评议 您对村里修路满意吗？") == [
        "P1预览：您对村里修路满意吗？（满意/基本满意/不满意），发给群众3人：短信1人，每条2段；"
        "Telegram 1人，微信1人。12-03 10:00截止。回复“确认”发出，“取消”作废。"
    ]
    [opened] = await secretary.says("确认")
    assert opened.startswith("评议P1已发出，共3人"), opened
    assert await queued_by_kind(county) == {"sms": 1, "telegram": 1, "wechat": 1}


async def test_a_chat_channel_nobody_is_reached_on_is_not_named(sqlite_county: App):
    await follows_on(sqlite_county, AddressKind.WECHAT, VILLAGER_OPENID, VILLAGER)
    [preview] = await Phone(sqlite_county, SECRETARY).says("评议 五个好")
    assert preview.startswith("五个好评议（P1起共5题）发给群众1人：短信0人，首题每条2段；微信1人。")
    assert "Telegram" not in preview


async def test_a_long_notice_counts_wechat_followers_and_charges_only_the_sms(
    sqlite_county: App,
):
    await follows_on(sqlite_county, AddressKind.WECHAT, MEMBER_OPENID, MEMBER)
    # The audience: two members and a villager (the secretary sends); 李秀英 on WeChat.
    assert await Phone(sqlite_county, SECRETARY).says(f"通知 {LONG}") == [
        "通知较长：每人3条短信，发短信2人共6条；微信1人。回复“确认”发出，“取消”作废。"
    ]


async def test_a_preview_asked_from_wechat_in_english(sqlite_county: App):
    """The secretary on WeChat, in English: the door changes nothing in what is counted."""
    await follows_on(sqlite_county, AddressKind.WECHAT, MEMBER_OPENID, SECRETARY)
    await follows_on(sqlite_county, AddressKind.WECHAT, VILLAGER_OPENID, VILLAGER)
    secretary = Address(AddressKind.WECHAT, MEMBER_OPENID)
    await sqlite_county.repos.db.execute(
        "UPDATE people SET language = 'en' WHERE id = (SELECT person_id FROM addresses"
        " WHERE kind = 'wechat' AND value = :v)",
        {"v": MEMBER_OPENID},
    )
    inbound = Inbound(
        Channel.WECHAT,
        uuid.uuid4().hex,
        secretary,
        "poll Is the new road good?",
        sqlite_county.clock.now(),
    )
    [preview] = [r.body for r in await sqlite_county.router.handle(inbound)]
    assert "to 1 villagers: SMS 0, 2 segment(s) each; 1 on WeChat. Closes" in preview, preview


def test_the_chat_part_names_each_channel_with_someone_on_it():
    zh, en = texts_for("zh-CN"), texts_for("en")
    assert chats_text(zh, {"sms": 5}) == "" and chats_text(en, {}) == ""
    assert chats_text(zh, {"sms": 5, "wechat": 2, "telegram": 0}) == "；微信2人"
    assert chats_text(en, {"telegram": 1, "wechat": 2}) == "; 1 on Telegram, 2 on WeChat"
    # Every chat channel has its words in both catalogs (a new channel would fail here).
    every = {kind.value: 7 for kind in CHATS}
    assert chats_text(zh, every).count("7") == chats_text(en, every).count("7") == len(CHATS)


async def test_poll_create_on_the_command_line_names_wechat(tmp_path, sqlite_url):
    config = load_config(env={"GRASSROOTS_DATABASE_URL": sqlite_url, **KEY_ENV})
    async with await App.open(config) as app:
        await populate_roster(app)
        await follows_on(app, AddressKind.WECHAT, VILLAGER_OPENID, VILLAGER)
    env = {"GRASSROOTS_DATABASE_URL": sqlite_url, **KEY_ENV}
    args = ["poll", "create", "--org", "HX0101", "--question", "路灯修得好吗", "--closes", "2d"]
    made = await asyncio.to_thread(CliRunner().invoke, main, args, env=env, catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert "共 1 人（短信0人；微信1人）" in made.output, made.output
