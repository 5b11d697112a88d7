"""Which language a reply is in (issue 11.5), as dialogues on both backends.

A person's stored language changes only when they ask (中文 / English) or, once, from what
their Telegram app says on first contact. Otherwise a reply follows the keyword of the
message it answers, else the stored language, else the deployment's default; broadcasts
follow the stored language, else the default.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from bot.app import App
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.texts import texts_for
from tests.conftest import MEMBER, SECRETARY, STRANGER, VILLAGER, Phone

ZH, EN = texts_for("zh-CN"), texts_for("en")
NEW_CHAT = "5550101"


async def stored(app: App, address: Address) -> str | None:
    return (await app.repos.people.resolve(address)).language


def language_of(replies: list[str]) -> str:
    """The language of one reply with no names in it (help): Chinese if any Han character."""
    assert len(replies) == 1, replies
    return "zh-CN" if re.search(r"[\u4e00-\u9fff]", replies[0]) else "en"


def sms(number: str) -> Address:
    return Address(AddressKind.SMS, number)


async def over_telegram(app: App, chat: str, body: str, language: str | None) -> list[str]:
    inbound = Inbound(
        Channel.TELEGRAM,
        uuid.uuid4().hex,
        Address(AddressKind.TELEGRAM, chat),
        body,
        app.clock.now(),
        language=language,
    )
    return [reply.body for reply in await app.router.handle(inbound)]


async def open_poll_to_villagers(app: App) -> None:
    secretary = Phone(app, SECRETARY)
    await secretary.says("评议 您对村里修路满意吗？")
    [opened] = await secretary.says("确认")
    assert opened.startswith("评议P1已发出"), opened


async def test_join_in_english_answers_in_english_but_stores_nothing(phone, county: App):
    """Was a bug: `join hx0101` made every later reply English, for good."""
    villager = phone(STRANGER)
    assert (await villager.says_one("join hx0101")).startswith("Welcome to 东坡村党支部")
    assert await stored(county, villager.address) is None
    # A message with no keyword, or a Chinese one, is answered in the default, Chinese.
    assert language_of(await villager.says("帮助")) == "zh-CN"
    assert language_of(await villager.says("?")) == "zh-CN"


@pytest.mark.parametrize(
    "word", ["English", "ENGLISH", "英文", "英语", "english。", "In English", "改成英文"]
)
async def test_an_explicit_switch_to_english_is_kept(phone, county: App, word: str):
    villager = phone(VILLAGER)
    assert await villager.says(word) == [EN.get("language.set")]
    assert await stored(county, villager.address) == "en"
    assert language_of(await villager.says("?")) == "en"  # no keyword: stored language
    # A keyword in Chinese is answered in Chinese, and changes nothing stored.
    assert language_of(await villager.says("帮助")) == "zh-CN"
    assert await stored(county, villager.address) == "en"


@pytest.mark.parametrize(
    "word", ["中文", "Chinese", "汉语", "中文！", "请用中文", "ＣＨＩＮＥＳＥ"]
)
async def test_an_explicit_switch_back_to_chinese(phone, county: App, word: str):
    villager = phone(VILLAGER)
    await villager.says("English")
    assert await villager.says(word) == [ZH.get("language.set")]
    assert await stored(county, villager.address) == "zh-CN"
    # Someone who chose Chinese and types an English keyword is answered in English.
    assert language_of(await villager.says("HELP")) == "en"
    assert language_of(await villager.says("?")) == "zh-CN"


async def test_a_switch_is_not_a_poll_answer(phone, county: App):
    """Was a bug: with a poll open, `中文` was taken as an answer to it."""
    await open_poll_to_villagers(county)
    villager = phone(VILLAGER)
    await villager.says("English")
    assert await villager.says("中文") == [ZH.get("language.set")]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM sealed_ballots") == 0
    [thanks] = await villager.says("1")
    assert thanks.startswith("已记录：满意"), thanks  # the stored language, Chinese
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM sealed_ballots") == 1


async def test_a_stranger_may_choose_before_joining(phone, county: App):
    stranger = phone(STRANGER)
    assert await stranger.says("English") == [EN.get("language.set")]
    assert (await stranger.says_one("加入 HX0101")).startswith("欢迎加入东坡村党支部")
    assert language_of(await stranger.says("?")) == "en"
    assert await stored(county, stranger.address) == "en"


async def test_broadcasts_follow_the_stored_language_else_the_default(phone, county: App):
    await phone(STRANGER).says("JOIN HX0101")  # English keyword: nothing stored
    await phone(VILLAGER).says("English")
    await open_poll_to_villagers(county)
    rows = await county.repos.db.fetch("SELECT address, body, choices FROM outbox")
    sent = {r["address"]: (r["body"], json.loads(r["choices"])) for r in rows}
    assert sent[VILLAGER][0].startswith("[Poll P1]")
    assert [c["label"] for c in sent[VILLAGER][1]] == [
        "Satisfied",
        "Fairly satisfied",
        "Dissatisfied",
    ]
    assert sent[STRANGER][0].startswith("【评议P1】")
    assert [c["label"] for c in sent[STRANGER][1]] == ["满意", "基本满意", "不满意"]


async def test_telegram_language_is_stored_on_first_contact_only(county: App):
    # A newcomer whose Telegram app reads English joins with a Chinese keyword.
    [welcome] = await over_telegram(county, NEW_CHAT, "加入 HX0101", "en")
    assert welcome.startswith("欢迎加入东坡村党支部"), welcome
    chat = Address(AddressKind.TELEGRAM, NEW_CHAT)
    assert await stored(county, chat) == "en"
    assert language_of(await over_telegram(county, NEW_CHAT, "?", "en")) == "en"
    # An explicit switch wins over what the app says, then and later.
    assert await over_telegram(county, NEW_CHAT, "中文", "en") == [ZH.get("language.set")]
    assert language_of(await over_telegram(county, NEW_CHAT, "?", "en")) == "zh-CN"
    assert await stored(county, chat) == "zh-CN"


async def test_a_rostered_person_first_seen_on_telegram_gets_the_apps_language(county: App):
    now = county.clock.now()
    chat = Address(AddressKind.TELEGRAM, NEW_CHAT)
    await county.repos.people.link(chat, sms(VILLAGER), now)
    assert await stored(county, chat) is None
    assert language_of(await over_telegram(county, NEW_CHAT, "?", "en")) == "en"
    assert await stored(county, sms(VILLAGER)) == "en"  # the person, on every address
    # Over SMS, with no keyword, he is now answered in English too.
    assert language_of(await Phone(county, VILLAGER).says("?")) == "en"


async def test_only_the_whole_message_switches(phone, county: App):
    member = phone(MEMBER)
    [report] = await member.says("今天教村里孩子学英文")
    assert report.startswith("已记录"), report  # a report, not a switch
    assert await stored(county, member.address) is None
    assert await member.says("English") == [EN.get("language.set")]  # not a deed
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM deeds") == 1
