"""Conversations, read as dialogues: a person says a text, the bot answers."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from bot.app import App
from bot.channels.console import console_inbound
from bot.messages import Address, AddressKind
from handlers.base import Context, Message, Route
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER


async def deeds_of(app: App, number: str) -> list[dict]:
    person = (await app.repos.people.resolve(Address(AddressKind.SMS, number))).person_id
    return await app.repos.deeds.for_person(person) if person else []


async def test_member_reports_a_deed_and_sees_the_week_and_streak(phone, county: App):
    member = phone(MEMBER)

    assert await member.says("汇报 #服务 看望了孤寡老人") == [
        "已记录【服务群众】。本周第1条，连续1天。谢谢！"
    ]
    assert await member.says("HB今天参加党课学习") == [
        "已记录【学习提高】。本周第2条，连续1天。谢谢！"
    ]

    county.clock.advance(timedelta(days=1))
    assert await member.says("帮邻居修好了水渠") == [
        "已记录【服务群众】。本周第3条，连续2天。谢谢！"
    ]

    county.clock.advance(timedelta(days=4))  # Tuesday of the next week, after a gap
    assert await member.says("汇报 组织村民打扫卫生") == ["已记录。本周第1条，连续1天。谢谢！"]

    stored = await deeds_of(county, MEMBER)
    assert [d["category"] for d in stored] == [None, "service", "study", "service"]
    assert stored[-1]["body"] == "看望了孤寡老人"  # keyword and leading tag taken off
    assert stored[0]["body"] == "组织村民打扫卫生"


@pytest.mark.parametrize(
    ("text", "category", "body"),
    [
        ("ＨＢ　３　帮五保户挑水", "service", "帮五保户挑水"),  # full-width keyword and digit
        ("REPORT #study read the new policy", "study", "read the new policy"),
        ("汇报 修好了路灯 #正气", "integrity", "修好了路灯 #正气"),  # a tag later stays
        ("汇报：1、学习十七大报告", "study", "学习十七大报告"),
        ("汇报 3户困难户已走访", "service", "3户困难户已走访"),  # "3户" is a count, not category 3
        ("5 劝阻了一起赌博", "integrity", "劝阻了一起赌博"),
        ("汇报 修路", None, "修路"),
        ("加入了村里的志愿服务队", "service", "加入了村里的志愿服务队"),  # not a JOIN
    ],
)
async def test_report_categories(phone, county: App, text, category, body):
    reply = await phone(MEMBER).says_one(text)
    assert reply.startswith(("已记录", "Recorded"))
    [deed] = await deeds_of(county, MEMBER)
    assert (deed["category"], deed["body"]) == (category, body)


async def test_english_keyword_gets_an_english_reply(phone):
    assert await phone(MEMBER).says("REPORT fixed the well pump #service") == [
        "Recorded (serving the public). 1 this week, 1-day streak. Thank you!"
    ]


async def test_my_record_counts_by_category(phone, county: App):
    member = phone(MEMBER)
    assert await member.says("查询") == ["您还没有汇报。发送“汇报+内容”即可记录。"]
    await member.says("汇报 #学习 读报")
    await member.says("汇报 #服务 看望老人")
    county.clock.advance(timedelta(days=7))
    await member.says("汇报 #服务 修路")
    assert await member.says("CX") == [
        "本周1条，累计3条：学习0/1，佳绩0/0，服务1/2，守法0/0，正气0/0（本周/累计）"
    ]
    assert await phone(MEMBER_2).says("查询") == ["您还没有汇报。发送“汇报+内容”即可记录。"]


async def test_villager_joins_with_a_misspelt_code(phone, county: App):
    villager = phone(STRANGER)
    assert await villager.says("JR HX0110") == [
        "没有找到代码“HX0110”。您要找的是不是：HX0101 东坡村党支部，HX0102 西岭村党支部？"
        "请回复 加入+代码。"
    ]
    assert await villager.says("加入 东坡") == [
        "没有找到代码“东坡”。您要找的是不是：HX0101 东坡村党支部？请回复 加入+代码。"
    ]
    assert await villager.says("加入HX0101") == [
        "欢迎加入东坡村党支部（争创主题：脱贫致富）！评议和通知会发到这里。回复“帮助”查看用法。"
    ]
    assert await villager.says("加入 hx0101") == ["您已加入东坡村党支部。"]
    assert await villager.says("查询") == [
        "您是东坡村党支部的群众。汇报记录只为党员保存；收到评议时回复数字即可参与。"
    ]


async def test_full_width_codes_from_a_phone_keyboard(phone):
    assert (await phone(STRANGER).says_one("加入 ＨＸ０１０１")).startswith("欢迎加入东坡村党支部")
    assert await phone(STRANGER).says("ＪＲ　ｈｘ０１０１") == ["您已加入东坡村党支部。"]


async def test_join_edge_cases(phone):
    assert await phone(STRANGER).says("加入") == ["请在“加入”后写支部代码，如：加入 HX0101"]
    assert await phone(STRANGER).says("JR QQQQQQQ") == [
        "没有找到代码“QQQQQQQ”。请向村党支部询问支部代码。"
    ]
    assert await phone(STRANGER).says("加入 HX01") == [
        "青山镇党委是上级党委，请加入所在支部：HX0101 东坡村党支部，HX0102 西岭村党支部"
    ]
    assert await phone(MEMBER).says("加入 HX0101") == ["您已是东坡村党支部的党员，无需加入。"]


async def test_english_join_is_answered_in_english_and_stores_nothing(phone):
    """Issue 11.5: a keyword's language answers that message only (tests/test_language.py)."""
    villager = phone(STRANGER)
    assert (await villager.says_one("JOIN HX0102")).startswith("Welcome to 西岭村党支部!")
    help_text = await villager.says_one("帮助")
    assert not help_text.isascii(), help_text  # Chinese, the default


async def test_reports_from_non_members_are_refused_and_not_stored(phone, county: App):
    assert await phone(VILLAGER).says("汇报 我也修了路") == [
        "汇报仅限党员。回复“帮助”查看您能参与的事。"
    ]
    assert await phone(STRANGER).says("REPORT fixed a road") == [
        "Reports are for Party members. Reply HELP to see what you can do."
    ]
    assert await county.repos.db.fetchval("SELECT COUNT(*) AS n FROM deeds") == 0


async def test_free_text_from_a_villager_is_a_message_not_a_deed(phone, county: App):
    [reply] = await phone(VILLAGER).says("路灯坏了")
    assert reply.startswith("留言已转给东坡村党支部")
    assert await county.repos.db.fetchval("SELECT COUNT(*) AS n FROM deeds") == 0


async def test_help_depends_on_the_role(phone):
    assert (await phone(MEMBER).says_one("帮助")).startswith("汇报+做了什么")
    assert (await phone(SECRETARY).says_one("BZ")).startswith("书记：通知+内容")
    assert (await phone(VILLAGER).says_one("?")).startswith("收到评议回复序号")
    assert (await phone(STRANGER).says_one("？")).startswith("回复“加入+支部代码”")
    assert (await phone(STRANGER).says_one("help")).startswith("Reply JOIN")


async def test_td_stops_once_and_start_resumes(phone, county: App):
    member = phone(MEMBER)
    assert await member.says("TD") == ["已退订，不再收到通知。回复“订阅”可恢复。"]
    assert await member.says("退订") == ["您已退订，不会再收到通知。回复“订阅”可恢复。"]
    record = await county.repos.people.resolve(member.address)
    assert record.opted_out_at == county.clock.now()
    assert await member.says("订阅") == ["已恢复接收通知。回复“退订”可停止。"]
    # An English word from someone with no chosen language is answered in English.
    assert await member.says("START") == ["You are receiving messages. Reply STOP to opt out."]
    assert (await county.repos.people.resolve(member.address)).opted_out_at is None


@pytest.mark.parametrize("word", ["STOP", "stop", "Stop.", "UNSUBSCRIBE", "ｓｔｏｐ", " td "])
async def test_stop_words_win_for_strangers_too(phone, county: App, word):
    stranger = phone(STRANGER)
    assert len(await stranger.says(word)) == 1
    assert (await county.repos.people.resolve(stranger.address)).opted_out_at is not None


async def test_stop_inside_a_sentence_is_a_report(phone, county: App):
    assert (await phone(MEMBER).says_one("stop the flooding on the road")).startswith("已记录")
    assert (await county.repos.people.resolve(phone(MEMBER).address)).opted_out_at is None


async def test_repeated_provider_id_is_handled_once(phone, county: App):
    member = phone(MEMBER)
    first = await member.says("汇报 #服务 看望老人", provider_id="SM123")
    again = await member.says("汇报 #服务 看望老人", provider_id="SM123")
    assert first == again == ["已记录【服务群众】。本周第1条，连续1天。谢谢！"]
    assert len(await deeds_of(county, MEMBER)) == 1
    assert await county.repos.inbound.count() == 1


@pytest.mark.parametrize(
    ("body", "expected_start"),
    [
        ("", "没有收到内容。汇报+做了什么"),
        ("   \t  ", "没有收到内容。汇报+做了什么"),
        ("😀🎉", "好的，谢谢！"),  # an acknowledgement, not a report
        ("汇报", "请在“汇报”后写做了什么"),
        ("汇报 😀", "请在“汇报”后写做了什么"),
        ("/foo", "没看懂这条。"),
    ],
)
async def test_odd_input_from_a_member_gets_a_helpful_answer(
    phone, county: App, body, expected_start
):
    [reply] = await phone(MEMBER).says(body)
    assert reply.startswith(expected_start)
    assert await county.repos.db.fetchval("SELECT COUNT(*) AS n FROM deeds") == 0
    stored = await county.repos.db.fetchrow("SELECT body, status FROM inbound_messages")
    opened = county.repos.inbound.open_body(stored["body"])  # sealed on disk (issue 12.2)
    assert {**stored, "body": opened} == {"body": body, "status": "handled"}


@pytest.mark.parametrize(
    "body",
    [
        "修" * 2000,
        "汇报 '); DROP TABLE deeds; --",
        "汇报 带\x00控制\x07字符\x1b[31m的文字",
        "汇报 " + "a" * 10_000,
    ],
)
async def test_odd_reports_are_stored_safely(phone, county: App, body):
    [reply] = await phone(MEMBER).says(body)
    assert reply.startswith("已记录")
    stored = await county.repos.db.fetchval("SELECT body FROM inbound_messages")
    stored = county.repos.inbound.open_body(stored)  # sealed on disk (issue 12.2)
    assert stored == body.replace("\x00", "\ufffd")  # NUL is the one thing not kept as sent
    [deed] = await deeds_of(county, MEMBER)
    assert "\x00" not in deed["body"] and "\x1b" not in deed["body"]
    assert len(deed["body"]) >= min(len(body) - 10, 1990)


async def test_a_failing_handler_apologises_and_keeps_the_message(county: App, phone, caplog):
    async def broken(msg: Message, ctx: Context) -> None:
        raise RuntimeError(f"boom for {MEMBER}")

    county.router._whole["boom"] = (Route("boom", broken), "zh-CN")
    with caplog.at_level(logging.ERROR):
        assert await phone(MEMBER).says("boom") == [
            "抱歉，系统出了点问题。您的消息已保存，我们会尽快处理。"
        ]
    row = await county.repos.db.fetchrow("SELECT id, body, status, error FROM inbound_messages")
    body = county.repos.inbound.open_body(row["body"])  # sealed on disk (issue 12.2)
    assert body == "boom" and row["status"] == "failed"
    assert "RuntimeError" in row["error"] and MEMBER not in row["error"]  # masked
    assert any(f"message {row['id']}" in r.getMessage() for r in caplog.records)


async def test_messages_left_unhandled_are_handled_on_recovery(county: App, phone):
    member = phone(MEMBER)
    inbound = console_inbound(member.address, "汇报 #学习 夜校", county.clock)
    await county.repos.inbound.record(inbound)  # recorded, then the process "died"
    assert await county.router.recover() == 1
    assert [d["body"] for d in await deeds_of(county, MEMBER)] == ["夜校"]
    row = await county.repos.db.fetchrow("SELECT status, reply FROM inbound_messages")
    assert row["status"] == "handled" and json.loads(row["reply"])[0].startswith("已记录")
    assert await county.router.recover() == 0


async def test_a_notice_handled_again_after_a_crash_is_not_broadcast_twice(county: App, phone):
    secretary = phone(SECRETARY)
    inbound = console_inbound(secretary.address, "通知 周五晚七点开党员大会", county.clock)
    recorded = await county.repos.inbound.record(inbound)
    await county.router._process(recorded.id, inbound)
    # The process died after broadcasting and before noting the message as handled.
    await county.repos.db.write(
        "UPDATE inbound_messages SET status = 'received' WHERE id = :id", {"id": recorded.id}
    )
    assert await county.router.recover() == 1
    rows = await county.repos.db.fetch("SELECT address, body, idempotency_key FROM outbox")
    notices = sorted(r["address"] for r in rows if r["idempotency_key"].startswith("notice:"))
    assert notices == sorted([MEMBER, MEMBER_2, VILLAGER])  # once each; not the secretary
    [reply] = [r for r in rows if r["idempotency_key"] == f"reply:{recorded.id}:0"]
    assert reply["address"] == SECRETARY and reply["body"].startswith("通知已排队：发给3人")


async def test_a_report_beginning_with_the_word_notice_is_a_report(phone, county: App):
    [reply] = await phone(SECRETARY).says("通知了全体党员周五学习党课")
    assert reply.startswith("已记录")
    assert await county.repos.db.fetchval("SELECT COUNT(*) AS n FROM outbox") == 0


async def test_a_failed_message_can_be_listed_and_handled_again(county: App, phone):
    async def broken(msg: Message, ctx: Context) -> None:
        raise RuntimeError("a bug")

    original = county.router.report
    county.router.report = Route("deed.free_text", broken)
    assert (await phone(MEMBER).says_one("帮邻居修好了水渠")).startswith("抱歉")
    [failed] = await county.repos.inbound.failed()
    assert failed["body"] == "帮邻居修好了水渠" and "RuntimeError" in failed["error"]
    county.router.report = original  # the bug is fixed
    assert await county.repos.inbound.reopen(failed["id"])
    assert not await county.repos.inbound.reopen(failed["id"])  # no longer failed
    assert await county.router.recover() == 1
    assert await county.repos.inbound.failed() == []
    [deed] = await deeds_of(county, MEMBER)
    assert deed["body"] == "帮邻居修好了水渠"
    reply = await county.repos.db.fetchval("SELECT body FROM outbox")
    assert reply.startswith("已记录【服务群众】")
