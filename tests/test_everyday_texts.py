"""What people type every day and no keyword claims (issue 11, points 3, 7 and 15):
acknowledgements, the same report twice, a photo, questions about the service, a villager's
message to the branch (群众留言), and opting out in people's own words."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram import Update

from bot.app import App
from bot.channels.telegram import Received, convert
from bot.everyday import everyday_kind, is_opt_out, is_usage_question
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound
from bot.normalize import normalize
from bot.segments import count_segments
from bot.texts import texts_for
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, START, STRANGER, VILLAGER
from tests.test_conversations import deeds_of
from tests.test_telegram import (  # noqa: F401  (fake is a fixture)
    MEMBER_CHAT,
    NEW_CHAT,
    Chat,
    chat_address,
    fake,
    serving,
    telegram_config,
    update,
)

ZH, EN = texts_for("zh-CN"), texts_for("en")
ACK_REPLIES = {ZH.get("everyday.ack"), ZH.get("everyday.thanks"), ZH.get("everyday.greeting")}


async def handler_of_last(app: App) -> str:
    return await app.repos.db.fetchval(
        "SELECT handler FROM inbound_messages ORDER BY id DESC LIMIT 1"
    )


async def messages_of(app: App) -> list[dict]:
    return [
        dict(r)
        for r in await app.repos.db.fetch(
            "SELECT org_id, person_id, body, attachment_url, status FROM public_messages "
            "ORDER BY id"
        )
    ]


# --- 3: acknowledgements are answered, logged, never counted ---------------------------------


ACKNOWLEDGEMENTS = [
    "收到",
    "好的",
    "谢谢书记",
    "明白",
    "OK",
    "嗯",
    "知道了",
    "收到，谢谢",
    "好的👍",
    "👍",
    "。。。",
    "收到！一定准时参加",
    "好的好的，辛苦了",
    "谢谢支书！",
    "ok thanks",
    "嗯嗯 明白了",
    "您好",
    "早上好",
    "收到，马上办",
    "谢谢您的关心",
    "哈哈",
    "好的 明天到",
    "新年快乐！",
    "已完成",
    "办好了",
    "搞定",
]


@pytest.mark.parametrize("text", ACKNOWLEDGEMENTS)
async def test_an_acknowledgement_from_a_member_is_answered_briefly_and_not_counted(
    phone, county: App, text
):
    [reply] = await phone(MEMBER).says(text)
    assert reply in ACK_REPLIES
    assert count_segments(reply).segments == 1
    assert await deeds_of(county, MEMBER) == []
    assert (await handler_of_last(county)).startswith("everyday.")  # in the log only
    assert await county.repos.inbound.count() == 1


@pytest.mark.parametrize(
    "text",
    [
        "好的，今天帮五保户挑水",
        "收到通知后组织了学习",
        "今天教村民怎么用手机缴费",
        "谢谢大家支持，村里的水渠修好了",
        "ok了，路灯装好了",
        "帮王大爷问了低保什么时候发",  # asks, but says what was done
        "今天入户宣讲，回答了群众关于医保多少钱的问题",
    ],
)
async def test_a_deed_that_begins_like_an_acknowledgement_is_still_a_deed(phone, county: App, text):
    [reply] = await phone(MEMBER).says(text)
    assert reply.startswith("已记录")
    assert len(await deeds_of(county, MEMBER)) == 1


async def test_thanks_and_greetings_get_their_own_short_answer(phone):
    assert await phone(MEMBER).says("谢谢书记") == [ZH.get("everyday.thanks")]
    assert await phone(VILLAGER).says("书记早上好") == [ZH.get("everyday.greeting")]
    assert await phone(MEMBER_2).says("好的") == [ZH.get("everyday.ack")]


async def test_the_same_report_twice_on_one_day_counts_once(phone, county: App):
    member = phone(MEMBER)
    first = await member.says_one("汇报 #服务 帮五保户挑水")
    assert first.startswith("已记录【服务群众】。本周第1条")
    # The same words again, as free text and with other punctuation: recorded once.
    again = await member.says_one("帮五保户挑水。")
    assert again == ZH.get("deed.duplicate")
    assert count_segments(again).segments == 1
    assert await handler_of_last(county) == "deed.duplicate"
    assert len(await deeds_of(county, MEMBER)) == 1
    assert await county.repos.inbound.count() == 2  # still in the log

    # Another member, or another day, is another deed.
    assert (await phone(MEMBER_2).says_one("帮五保户挑水")).startswith("已记录")
    county.clock.advance(timedelta(days=1))
    assert (await member.says_one("帮五保户挑水")).startswith("已记录【服务群众】。本周第2条")
    assert len(await deeds_of(county, MEMBER)) == 2


def mms(app: App, number: str, body: str, url: str) -> Inbound:
    return Inbound(
        Channel.SMS,
        uuid.uuid4().hex,
        Address(AddressKind.SMS, number),
        body,
        app.clock.now(),
        attachments=(Attachment(url, "image/jpeg"),),
    )


async def test_a_photo_without_text_is_a_deed_and_a_caption_may_follow(phone, county: App):
    photo = mms(county, MEMBER, "", "https://api.twilio.com/m/ME1")
    [reply] = [r.body for r in await county.router.handle(photo)]
    assert reply == ZH.get("deed.photo", week=1, streak=1)
    assert count_segments(reply).segments == 1
    [deed] = await deeds_of(county, MEMBER)
    assert deed["attachment_url"] == "https://api.twilio.com/m/ME1"

    # The next words describe the photo: the same deed, not a second one.
    assert await phone(MEMBER).says("帮五保户修屋顶") == [
        ZH.get("deed.captioned", category=ZH.get("category.service"))
    ]
    [deed] = await deeds_of(county, MEMBER)
    assert (deed["body"], deed["category"]) == ("帮五保户修屋顶", "service")
    # After that, words are a report of their own.
    assert await phone(MEMBER).says("好的") == [ZH.get("everyday.ack")]
    assert (await phone(MEMBER).says_one("组织党员学习")).startswith("已记录【学习提高】")
    assert len(await deeds_of(county, MEMBER)) == 2


async def test_a_photo_with_a_caption_is_one_deed_with_its_photo(county: App):
    photo = mms(county, MEMBER, "修好的桥", "https://api.twilio.com/m/ME2")
    [reply] = [r.body for r in await county.router.handle(photo)]
    assert reply.startswith("已记录")
    [deed] = await deeds_of(county, MEMBER)
    assert (deed["body"], deed["attachment_url"]) == ("修好的桥", "https://api.twilio.com/m/ME2")


async def test_a_question_after_a_photo_is_not_its_caption(phone, county: App):
    await county.router.handle(mms(county, MEMBER, "", "https://api.twilio.com/m/ME3"))
    assert await phone(MEMBER).says("怎么用") == [ZH.get("help.member")]
    [deed] = await deeds_of(county, MEMBER)
    assert deed["body"] == ""


async def test_two_photos_on_one_day_are_two_deeds(county: App):
    for url in ("https://api.twilio.com/m/A", "https://api.twilio.com/m/B"):
        await county.router.handle(mms(county, MEMBER, "", url))
    assert len(await deeds_of(county, MEMBER)) == 2


def test_a_telegram_photo_without_caption_becomes_an_inbound_with_its_photo():
    data = update("message", 701, MEMBER_CHAT)
    del data["message"]["text"]
    data["message"]["photo"] = [
        {"file_id": "small-id", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large-id", "file_unique_id": "l", "width": 1280, "height": 960},
    ]
    received = convert(Update.de_json(data, None), START)
    assert isinstance(received, Received)
    assert received.inbound.body == ""
    assert received.inbound.attachments == (Attachment("telegram:large-id", "image/jpeg"),)


USAGE_QUESTIONS = [
    "请问怎么汇报啊",
    "hb的格式是什么？",
    "HB的格式是什么",
    "怎么用",
    "这个怎么发",
    "how do I report",
    "汇报要怎么写？",
    "我不会用",
    "什么意思？",
    "怎么参加评议",
    "汇报发给谁",
    "短信要收费吗",
    "这个是干啥的",
    "怎么查看我的记录",
    "如何看结果",
]


@pytest.mark.parametrize("text", USAGE_QUESTIONS)
async def test_a_question_about_the_service_gets_help_and_is_not_a_report(phone, county: App, text):
    [reply] = await phone(MEMBER).says(text)
    assert reply in (ZH.get("help.member"), EN.get("help.member"))
    assert await deeds_of(county, MEMBER) == []
    [villager_reply] = await phone(VILLAGER).says(text)
    assert villager_reply in (ZH.get("help.public"), EN.get("help.public"))
    assert await messages_of(county) == []


# --- 7: a villager's free text is a message to the branch (群众留言) ------------------------


async def test_a_villagers_free_text_is_kept_for_the_branch_and_listed_for_the_secretary(
    phone, county: App
):
    villager, secretary = phone(VILLAGER), phone(SECRETARY)
    kept = await villager.says_one("村里的路灯坏了")
    assert kept == ZH.get("public_message.kept", org="东坡村党支部")
    assert count_segments(kept).segments == 1
    branch = await county.repos.orgs.by_code("HX0101")
    [stored] = await messages_of(county)
    assert (stored["org_id"], stored["body"], stored["status"]) == (
        branch.id,
        "村里的路灯坏了",
        "new",
    )
    assert stored["person_id"] is not None

    county.clock.advance(timedelta(minutes=5))
    await villager.says("西头的水沟堵了，下雨就淹")
    listing = await secretary.says_one("留言")
    # Latest first, with who wrote (name and masked number: the branch can answer).
    assert listing.index("西头的水沟堵了") < listing.index("村里的路灯坏了")
    assert "赵大爷" in listing and "139****1101" in listing
    assert VILLAGER not in listing
    assert await secretary.says_one("LY") == listing
    assert count_segments(listing).segments <= 2
    english = await phone(SECRETARY).says_one("MESSAGES")
    assert "村里的路灯坏了" in english


async def test_a_villagers_photo_is_kept_with_the_message(phone, county: App):
    photo = mms(county, VILLAGER, "", "https://api.twilio.com/m/LAMP")
    [reply] = [r.body for r in await county.router.handle(photo)]
    assert reply == ZH.get("public_message.kept", org="东坡村党支部")
    [stored] = await messages_of(county)
    assert (stored["body"], stored["attachment_url"]) == ("", "https://api.twilio.com/m/LAMP")
    assert ZH.get("public_message.photo") in await phone(SECRETARY).says_one("留言")


async def test_a_villager_may_say_liuyan_and_is_limited_per_hour(phone, county: App):
    villager = phone(VILLAGER)
    assert await villager.says_one("留言：村口的桥有裂缝") == ZH.get(
        "public_message.kept", org="东坡村党支部"
    )
    [stored] = await messages_of(county)
    assert stored["body"] == "村口的桥有裂缝"
    for i in range(4):
        await villager.says(f"第{i + 2}件事：水渠要清淤")
    limited = await villager.says_one("第6件事：路灯")
    assert limited == ZH.get("public_message.limit", limit=5)
    assert len(await messages_of(county)) == 5
    county.clock.advance(timedelta(hours=1))
    await villager.says("第6件事：路灯")
    assert len(await messages_of(county)) == 6


async def test_a_leaders_free_text_is_their_report_not_a_message(phone, county: App):
    """Leaders are Party members (issue 11.4): their words are deeds, never 群众留言."""
    township = await county.repos.orgs.by_code("HX01")
    leader = "+8613800009999"
    await county.repos.people.import_roster(
        [RosterEntry(township.id, "刘镇长", Address(AddressKind.SMS, leader), Role.LEADER)],
        county.clock.now(),
    )
    [reply] = await phone(leader).says("走访了西岭村三户困难户")
    assert reply.startswith("已记录")
    assert await messages_of(county) == []
    assert await phone(leader).says_one("收到") == ZH.get("everyday.ack")


async def test_the_comment_list_points_to_new_messages(phone):
    secretary = phone(SECRETARY)
    assert await secretary.says_one("评论列表") == "东坡村党支部暂无评论。"
    await phone(VILLAGER).says("村里的路灯坏了")
    pointer = ZH.get("public_message.pointer", count=1)
    assert await secretary.says_one("评论列表") == "东坡村党支部暂无评论。" + pointer
    await secretary.says("留言")  # read: no longer new
    assert await secretary.says_one("评论列表") == "东坡村党支部暂无评论。"


async def test_acknowledgements_and_questions_from_villagers_are_not_kept(phone, county: App):
    villager = phone(VILLAGER)
    assert await villager.says_one("谢谢") == ZH.get("everyday.thanks")
    assert await villager.says_one("怎么用？") == ZH.get("help.public")
    assert await messages_of(county) == []


async def test_a_question_to_the_branch_is_a_message(phone, county: App):
    await phone(VILLAGER).says("村里什么时候修路？")
    [stored] = await messages_of(county)
    assert stored["body"] == "村里什么时候修路？"


async def test_the_message_list_fits_two_segments_and_counts_the_rest(phone, county: App):
    villager = phone(VILLAGER)
    for i in range(12):
        await villager.says(f"第{i + 1}条：村口的垃圾桶满了，请安排人清理一下")
        county.clock.advance(timedelta(minutes=15))  # within the hourly limit
    listing = await phone(SECRETARY).says_one("留言")
    assert count_segments(listing).segments <= 2
    assert "第12条" in listing
    shown = listing.count("村口的垃圾桶")
    assert 1 <= shown < 12
    assert ZH.get("public_message.more", count=12 - shown) in listing


async def test_only_the_secretary_lists_messages(phone, county: App):
    await phone(VILLAGER).says("村里的路灯坏了")
    reply = await phone(MEMBER).says_one("留言")
    assert "村里的路灯坏了" not in reply


async def test_with_no_messages_the_secretary_is_told_so(phone):
    assert await phone(SECRETARY).says_one("留言") == ZH.get(
        "public_message.none", org="东坡村党支部"
    )


async def test_a_stranger_gets_help_on_joining_and_nothing_is_kept(phone, county: App):
    [reply] = await phone(STRANGER).says("村里的路灯坏了")
    assert reply.endswith(ZH.get("help.stranger", code="HX0101"))  # the first branch
    assert await messages_of(county) == []


async def test_last_weeks_messages_are_counted_in_the_digest(phone, county: App):
    from scheduler import jobs

    await phone(VILLAGER).says("村里的路灯坏了")
    await phone(VILLAGER).says("西头的水沟堵了")
    county.clock.advance(timedelta(days=5))  # Tuesday of the next week: not last week's
    await phone(VILLAGER).says("村口的桥栏杆松了")
    ctx = jobs.JobContext(county.repos, ZoneInfo("Asia/Shanghai"), "zh-CN")
    await jobs.weekly_digest(ctx, county.clock.now())
    rows = await county.repos.db.fetch(
        "SELECT address, body FROM outbox WHERE idempotency_key LIKE 'digest:%'"
    )
    bodies = {r["address"]: r["body"] for r in rows}
    assert bodies[SECRETARY].endswith("群众留言2条，回复“留言”查看。"), bodies


@pytest.mark.parametrize(
    "text", ["明天几点开会", "低保什么时候发", "会议在哪里开", "请问书记明天要不要带材料"]
)
async def test_a_members_question_goes_to_the_branch_not_into_the_record(phone, county: App, text):
    [reply] = await phone(MEMBER).says(text)
    assert reply == ZH.get("public_message.kept", org="东坡村党支部")
    assert await deeds_of(county, MEMBER) == []
    [kept] = await messages_of(county)
    assert kept["body"] == text
    # The secretary reads it with the others; their own questions have nobody to go to.
    assert text in await phone(SECRETARY).says_one("留言")
    assert await deeds_of(county, SECRETARY) == []


async def test_a_member_may_also_write_to_the_branch_with_the_keyword(phone, county: App):
    reply = await phone(MEMBER).says_one("留言 书记，村东头的水管漏了")
    assert reply == ZH.get("public_message.kept", org="东坡村党支部")
    assert [m["body"] for m in await messages_of(county)] == ["书记，村东头的水管漏了"]


async def test_a_members_free_text_stays_a_report(phone, county: App):
    assert (await phone(MEMBER).says_one("村里的路灯修好了")).startswith("已记录")
    assert await messages_of(county) == []


# --- 15: opting out as people say it ---------------------------------------------------------


OPT_OUTS = ["不要再给我发短信了", "别再发了", "取消短信", "别发了", "不要发了", "不想收短信了"]


@pytest.mark.parametrize(
    "text",
    [*OPT_OUTS, "以后别给我发消息了，谢谢", "请不要再发这些通知", "拒收短信", "别再发短信来了"],
)
async def test_opting_out_in_peoples_words(phone, county: App, text):
    assert await phone(VILLAGER).says(text) == [ZH.get("optout.stopped")]
    record = await county.repos.people.resolve(Address(AddressKind.SMS, VILLAGER))
    assert record.opted_out_at is not None


@pytest.mark.parametrize(
    "text",
    [
        "今天给村民发短信通知开会",
        "取消了短信套餐，省下的钱给困难户",
        "别再发愁了，帮老李找到了销路",
    ],
)
async def test_a_report_that_mentions_text_messages_stays_a_report(phone, county: App, text):
    assert (await phone(MEMBER).says_one(text)).startswith("已记录")


async def test_a_repeated_stop_gets_a_short_confirmation(phone):
    villager = phone(VILLAGER)
    assert await villager.says("退订") == [ZH.get("optout.stopped")]
    again = await villager.says_one("退订")
    assert again == ZH.get("optout.already_off")
    assert count_segments(again).segments == 1


def test_the_grammars_take_whole_messages_only():
    def folded(text: str) -> str:
        return normalize(text).folded

    assert not is_opt_out(folded("取消"))  # answers a confirmation
    assert not is_opt_out(folded("不要了"))
    assert everyday_kind(folded("")) is None
    assert everyday_kind(folded("1")) is None  # a category or a poll answer
    assert not is_usage_question(folded("帮助五保户"))


async def test_telegram_stop_gets_its_confirmation(fake, tmp_path, db_url, clock):  # noqa: F811
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        chat = Chat(site, MEMBER_CHAT)
        # Delivered although the chat is now opted out: it answers the STOP itself.
        assert await chat.says("/stop") == [(ZH.get("optout.stopped"), None)]
        record = await site.app.repos.people.resolve(chat_address(MEMBER_CHAT))
        assert record.opted_out_at is not None


async def test_an_unlinked_member_on_telegram_is_told_how_to_link(
    fake,  # noqa: F811
    tmp_path,
    db_url,
    clock,
):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        chat = Chat(site, NEW_CHAT)
        assert await chat.says("汇报 今天帮五保户挑水") == [(ZH.get("deed.link_first"), None)]
        assert await chat.says("/report 组织党员学习") == [(ZH.get("deed.link_first"), None)]
        assert await chat.says("今天帮五保户挑水") == [(ZH.get("deed.link_first"), None)]
        assert "/link" in ZH.get("deed.link_first") and "/link" in EN.get("deed.link_first")


ONE_SEGMENT = [
    "everyday.ack",
    "everyday.thanks",
    "everyday.greeting",
    "deed.duplicate",
    "deed.photo",
    "deed.captioned",
    "deed.captioned_plain",
    "deed.link_first",
    "optout.already_off",
    "public_message.kept",
    "public_message.limit",
    "public_message.none",
]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("key", ONE_SEGMENT)
def test_every_acknowledgement_here_fits_one_sms(language, key):
    texts = texts_for(language)
    body = texts.get(
        key,
        org="青山镇东坡村党支部",  # a long real-style name, in Chinese in both languages
        week=12,
        streak=30,
        category=texts.get("category.discipline"),
        limit=5,
    )
    assert count_segments(body).segments == 1, body
