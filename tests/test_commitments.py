"""Public commitments (公开承诺), read as dialogues: made, published, reported on, reminded,
marked done; and who may do what."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.channels.console import console_inbound
from bot.commitment_texts import excerpt
from bot.segments import count_segments
from bot.texts import Texts
from scheduler import commitment_jobs, jobs
from scheduler.commitment_jobs import EXCERPT_CHARS
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER

ZONE = ZoneInfo("Asia/Shanghai")
# The county fixture's clock: Thursday 2026-11-26, 10:00 in Beijing.


def ctx_of(app: App) -> jobs.JobContext:
    return jobs.JobContext(app.repos, ZONE, "zh-CN")


async def sweep(app: App, at: datetime | None = None) -> int:
    return await commitment_jobs.sweep(ctx_of(app), at or app.clock.now())


async def outbox(app: App, prefix: str = "") -> list[tuple[str, str]]:
    rows = await app.repos.db.fetch("SELECT idempotency_key, address, body FROM outbox ORDER BY id")
    return [(r["address"], r["body"]) for r in rows if r["idempotency_key"].startswith(prefix)]


async def test_a_commitment_without_a_due_date_is_published_to_the_public(phone, county: App):
    assert await phone(MEMBER).says("承诺 每周走访两户困难户") == [
        "已登记承诺C1，即将向群众公示。完成后回复“完成 C1”，进展可“汇报 #C1 内容”。"
    ]
    assert await sweep(county) == 1
    published = (
        "【东坡村党支部公开承诺】C1李秀英：每周走访两户困难户。欢迎监督，回复“承诺列表”查看。"
    )
    assert await outbox(county) == [(VILLAGER, published)]  # the public, not the members
    assert await sweep(county) == 0  # published once
    assert await outbox(county) == [(VILLAGER, published)]
    c = await county.repos.commitments.get(1)
    assert (c.code, c.subject, c.due_on, c.is_branch) == ("C1", "commitment:1", None, False)
    assert await phone(VILLAGER).says("承诺列表") == [
        "【东坡村党支部公开承诺】C1李秀英：每周走访两户困难户。"
    ]


@pytest.mark.parametrize(
    ("text", "body", "due"),
    [
        ("承诺 本月帮扶两户困难户 到 12-31", "本月帮扶两户困难户", date(2026, 12, 31)),
        ("承诺：帮扶两户困难户，到12月31日前", "帮扶两户困难户", date(2026, 12, 31)),
        ("CN 修好村口水渠 截止 2027-01-15", "修好村口水渠", date(2027, 1, 15)),
        ("承诺 修好村口水渠 到 1-15", "修好村口水渠", date(2027, 1, 15)),  # past: next year
        ("承诺 办好农民夜校 到年底", "办好农民夜校", date(2026, 12, 31)),
        ("承诺 清理河道垃圾 到 月底", "清理河道垃圾", date(2026, 11, 30)),
        ("PLEDGE fix the well pump by 12-31", "fix the well pump", date(2026, 12, 31)),
        ("承诺 人均增收到3000元", "人均增收到3000元", None),  # a number, not a date
    ],
)
async def test_due_dates(phone, county: App, text, body, due):
    [reply] = await phone(MEMBER).says(text)
    assert reply.startswith(("已登记承诺C1", "Commitment C1 recorded"))
    c = await county.repos.commitments.get(1)
    assert (c.body, c.due_on) == (body, due)


async def test_the_reply_names_the_due_date(phone):
    assert await phone(MEMBER).says("承诺 本月帮扶两户困难户 到 12-31") == [
        "已登记承诺C1（12月31日到期），即将向群众公示。完成后回复“完成 C1”，进展可“汇报 #C1 内容”。"
    ]
    assert await phone(MEMBER_2).says("PLEDGE fix the well pump by 2027-01-15") == [
        "Commitment C2 recorded (due Jan 15, 2027). It goes to the public shortly. "
        "Reply DONE C2 when it is done; report progress with REPORT #C2 ..."
    ]


@pytest.mark.parametrize("when", ["到 2-30", "到 2025-12-31", "by 13-01"])
async def test_a_date_that_is_no_date_to_come_is_asked_again(phone, county: App, when):
    [reply] = await phone(MEMBER).says(f"承诺 修路 {when}")
    assert reply.startswith("没看懂期限") and reply.endswith("回复“无”不设期限。")
    assert await county.repos.commitments.get(1) is None


async def test_reminder_three_days_ahead_then_the_prompt_on_the_day(phone, county: App):
    await phone(MEMBER).says("承诺 本月帮扶两户困难户 到 12-31")
    await sweep(county)  # published
    before = datetime(2026, 12, 28, 8, 59, tzinfo=ZONE)
    assert await sweep(county, before) == 0
    morning = datetime(2026, 12, 28, 9, 0, tzinfo=ZONE)
    assert await sweep(county, morning) == 1
    assert await sweep(county, morning + timedelta(hours=1)) == 0  # once
    assert await outbox(county, "commitment:1:") == [
        (
            MEMBER,
            "【承诺提醒】C1“本月帮扶两户困难户”12月31日到期。"
            "进展回复“汇报 #C1 内容”，完成回复“完成 C1”。",
        )
    ]
    due_day = datetime(2026, 12, 31, 9, 30, tzinfo=ZONE)
    assert await sweep(county, due_day) == 1
    assert await sweep(county, due_day) == 0
    assert (await outbox(county, "commitment:1:prompt"))[0] == (
        MEMBER,
        "【承诺到期】C1“本月帮扶两户困难户”12月31日到期。"
        "已完成回复“完成 C1”，否则“汇报 #C1 进展”。",
    )


async def test_no_reminder_for_a_commitment_done_or_made_close_to_its_date(phone, county: App):
    await phone(MEMBER).says("承诺 修好路灯 到 12-31")
    assert await phone(MEMBER).says("完成 C1") == ["承诺C1已标记完成，谢谢！"]
    county.clock.set(datetime(2026, 12, 29, 10, 0, tzinfo=ZONE))  # two days before
    await phone(MEMBER_2).says("承诺 清扫村道 到 12-31")
    assert await sweep(county) == 1  # the publication
    assert await sweep(county, datetime(2026, 12, 30, 9, 0, tzinfo=ZONE)) == 0
    # The prompt on the day still comes for the one not done.
    assert await sweep(county, datetime(2026, 12, 31, 9, 0, tzinfo=ZONE)) == 1
    [(to, body)] = await outbox(county, "commitment:2:")
    assert to == MEMBER_2 and body.startswith("【承诺到期】C2“清扫村道”")


async def test_a_report_counts_towards_a_commitment(phone, county: App):
    member = phone(MEMBER)
    await member.says("承诺 本月帮扶两户困难户 到 12-31")
    assert await member.says("汇报 #C1 走访了第一户困难户") == [
        "已记录【服务群众】，计入承诺C1。本周第1条，连续1天。谢谢！"
    ]
    assert await member.says("HB #承诺1 #学习 学习帮扶政策") == [
        "已记录【学习提高】，计入承诺C1。本周第2条，连续1天。谢谢！"
    ]
    assert await member.says("汇报 #c1 修路") == ["已记录，计入承诺C1。本周第3条，连续1天。谢谢！"]
    # Another member's commitment is not theirs to report on; the report is still kept.
    assert await phone(MEMBER_2).says("汇报 #C1 帮李家收玉米") == [
        "已记录，但没有找到您的承诺C1，未计入。本周第1条，连续1天。"
    ]
    rows = await county.repos.db.fetch("SELECT body, commitment_id FROM deeds ORDER BY id")
    assert [(r["body"], r["commitment_id"]) for r in rows] == [
        ("走访了第一户困难户", 1),
        ("学习帮扶政策", 1),
        ("修路", 1),
        ("帮李家收玉米", None),
    ]
    assert (await county.repos.commitments.get(1)).progress == 3
    assert await member.says("承诺列表") == [
        "【东坡村党支部公开承诺】C1李秀英：本月帮扶两户困难户（12月31日前，进展3次，待公示）。"
    ]


async def test_marking_done(phone, county: App):
    member = phone(MEMBER)
    await member.says("承诺 修好路灯")
    await member.says("承诺 清理河道 到 12-31")
    assert await member.says("完成") == [
        "您有2项未完成的承诺：C2，C1。请回复“完成+编号”，如：完成 C2"
    ]
    assert await phone(MEMBER_2).says("完成 C1") == ["C1不是您的承诺。回复“承诺列表”查看编号。"]
    assert await member.says("WC c2") == ["承诺C2已标记完成，谢谢！"]
    assert await member.says("完成 C2") == ["承诺C2已于11月26日完成。"]
    assert await member.says("完成") == ["承诺C1已标记完成，谢谢！"]  # the one left
    assert await member.says("完成") == ["您没有未完成的承诺。回复“承诺+内容”作出承诺。"]
    assert await member.says("完成 C9") == ["没有找到承诺C9。回复“承诺列表”查看编号。"]
    await sweep(county)
    assert await phone(VILLAGER).says("CNL") == [
        "【东坡村党支部公开承诺】已完成2项，暂无进行中的承诺。"
    ]


async def test_done_followed_by_words_is_a_report(phone, county: App):
    assert await phone(MEMBER).says("完成了村道硬化") == ["已记录。本周第1条，连续1天。谢谢！"]
    assert await phone(MEMBER).says("完成 3户走访") == [
        "已记录【服务群众】。本周第2条，连续1天。谢谢！"
    ]
    [reply] = await phone(VILLAGER).says("完成 村道")
    assert reply.startswith("留言已转给")  # a villager's words no keyword took: a 留言
    assert await county.repos.commitments.get(1) is None


async def test_a_commitment_word_inside_a_report_is_a_report(phone, county: App):
    assert (await phone(MEMBER).says_one("承诺的事都办好了")).startswith("已记录")
    assert await county.repos.commitments.get(1) is None


async def test_the_secretary_registers_the_branchs_commitment(phone, county: App):
    assert await phone(SECRETARY).says("承诺 支部 年底前修通村道 到 年底") == [
        "已登记东坡村党支部承诺C1（12月31日到期），即将向群众公示。完成后回复“完成 C1”。"
    ]
    c = await county.repos.commitments.get(1)
    assert (c.is_branch, c.body) == (True, "年底前修通村道")
    await sweep(county)
    [(to, body)] = await outbox(county)
    assert to == VILLAGER and "C1支部：年底前修通村道（12月31日前）" in body
    # The reminder and the prompt go to the secretary.
    assert await sweep(county, datetime(2026, 12, 28, 9, 0, tzinfo=ZONE)) == 1
    [(to, body)] = await outbox(county, "commitment:1:reminder")
    assert to == SECRETARY
    assert (
        body == "【承诺提醒】东坡村党支部承诺C1“年底前修通村道”12月31日到期。完成后回复“完成 C1”。"
    )
    # Members advance it; only the secretary says it is done.
    assert (await phone(MEMBER).says_one("汇报 #C1 组织村民修路")).startswith("已记录，计入承诺C1")
    assert await phone(MEMBER).says("完成 C1") == [
        "在东坡村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(SECRETARY).says("完成 C1") == ["承诺C1已标记完成，谢谢！"]


async def test_a_member_trying_a_secretarys_command_is_refused(phone, county: App):
    refused = "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
    assert await phone(MEMBER).says("承诺 支部 修通村道") == [refused]
    assert await phone(MEMBER).says("承诺公示") == [refused]
    assert await phone(MEMBER).says("承诺公示 周五 18:00") == [refused]
    assert await phone(VILLAGER).says("承诺 修路") == [
        "此操作需要本支部党员身份。回复“帮助”查看您能做的事。"
    ]
    assert await county.repos.commitments.get(1) is None
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM commitment_schedules") == 0


async def test_a_secretary_trying_another_branchs_command_is_refused(phone, county: App):
    refused = "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    assert await phone(SECRETARY).says("承诺 支部 HX0102 修通村道") == [refused]
    assert await phone(SECRETARY).says("承诺公示 HX0102 手动") == [refused]
    assert await phone(SECRETARY).says("承诺 支部 HX0199 修通村道") == ["没有找到代码“HX0199”。"]
    assert await county.repos.commitments.get(1) is None


async def test_publication_on_the_secretarys_schedule(phone, county: App):
    secretary = phone(SECRETARY)
    assert await secretary.says("承诺公示 每周五下午6点") == [
        "东坡村党支部承诺改为每周五18:00公示，待公示0项。"
    ]
    assert await phone(MEMBER).says("承诺 每周走访两户") == [
        "已登记承诺C1，将于周五18:00向群众公示。完成后回复“完成 C1”，进展可“汇报 #C1 内容”。"
    ]
    await phone(MEMBER_2).says("承诺 帮助孤寡老人 到 12-31")
    assert await sweep(county) == 0
    # Held until then: the public does not see them yet, the secretary does.
    assert await phone(VILLAGER).says("承诺列表") == [
        "东坡村党支部暂无公开承诺。党员回复“承诺+内容”即可作出承诺。"
    ]
    assert (await secretary.says_one("承诺列表")).endswith(
        "C2王志强：帮助孤寡老人（12月31日前，待公示）；C1李秀英：每周走访两户（待公示）。"
    )
    assert await sweep(county, datetime(2026, 11, 27, 17, 59, tzinfo=ZONE)) == 0
    assert await sweep(county, datetime(2026, 11, 27, 18, 0, tzinfo=ZONE)) == 1
    assert await outbox(county) == [
        (
            VILLAGER,
            "【东坡村党支部公开承诺】C1李秀英：每周走访两户；"
            "C2王志强：帮助孤寡老人（12月31日前）。欢迎监督，回复“承诺列表”查看。",
        )
    ]


async def test_held_commitments_wait_for_the_secretary(phone, county: App):
    secretary = phone(SECRETARY)
    assert await secretary.says("承诺公示 手动") == [
        "东坡村党支部承诺改为书记回复“承诺公示”时公示，待公示0项。"
    ]
    assert (await phone(MEMBER).says_one("承诺 修路")).startswith("已登记承诺C1，待书记公示。")
    assert await sweep(county, county.clock.now() + timedelta(days=30)) == 0
    assert await secretary.says("承诺公示") == ["1项承诺即将向群众公示。"]
    assert await sweep(county) == 1
    assert await secretary.says("承诺公示") == ["东坡村党支部没有待公示的承诺。"]
    await phone(MEMBER).says("承诺 修桥")
    assert await secretary.says("承诺公示 即时") == [
        "东坡村党支部承诺改为登记即公示，待公示的1项随即公示。"
    ]
    assert await sweep(county) == 1
    assert await secretary.says("承诺公示 下周") == [
        "没看懂。可回复：承诺公示（立即公示）、承诺公示 周五 18:00、承诺公示 即时、承诺公示 手动。"
    ]


async def test_a_publication_cut_short_by_a_crash_is_sent_once(phone, county: App):
    await phone(MEMBER).says("承诺 修路")
    # A sweep claimed the commitment and died before queueing the broadcast.
    [batch] = await county.repos.commitments.claim_due(county.clock.now())
    assert [c.code for c in batch.items] == ["C1"]
    assert await outbox(county) == []
    assert await sweep(county) == 1
    assert await sweep(county) == 0
    assert [to for to, _ in await outbox(county)] == [VILLAGER]


async def test_a_commitment_handled_again_after_a_crash_is_made_once(county: App, phone):
    inbound = console_inbound(phone(MEMBER).address, "承诺 修路", county.clock)
    recorded = await county.repos.inbound.record(inbound)
    await county.router._process(recorded.id, inbound)
    await county.repos.db.write(
        "UPDATE inbound_messages SET status = 'received' WHERE id = :id", {"id": recorded.id}
    )
    assert await county.router.recover() == 1
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM commitments") == 1


async def test_a_long_publication_fits_two_segments(phone, county: App):
    for i in range(12):
        await phone(MEMBER).says(f"承诺 第{i + 1}件实事：为群众办好一件具体的事情")
    await sweep(county)
    [(_, body)] = await outbox(county)
    assert count_segments(body).segments == 2
    assert "等共12项" in body and body.endswith("欢迎监督，回复“承诺列表”查看。")


async def test_listing_another_branch_and_strangers(phone, county: App):
    assert await phone(STRANGER).says("承诺列表") == ["请写：承诺列表+支部代码"]
    await phone(MEMBER).says("承诺 修路")
    await sweep(county)
    # Published commitments are the public's: anyone may read a branch's by its code.
    assert await phone(STRANGER).says("承诺列表 hx0101") == [
        "【东坡村党支部公开承诺】C1李秀英：修路。"
    ]
    assert await phone(STRANGER).says("PLEDGES HX0102") == [
        "西岭村党支部 has no public commitments yet. Members reply PLEDGE <text> to make one."
    ]
    assert await phone(STRANGER).says("承诺列表 XX99") == ["没有找到代码“XX99”。"]


@pytest.mark.parametrize(
    "key",
    [
        "commitment.reminder",
        "commitment.prompt",
        "commitment.reminder_branch",
        "commitment.prompt_branch",
    ],
)
def test_reminders_fit_one_chinese_segment(key):
    texts = Texts("zh-CN")
    body = texts.get(
        key,
        code="C1234",
        org="东坡村党支部",
        body=excerpt(texts, "本月帮扶两户困难户并且落实好每一项帮扶措施", EXCERPT_CHARS),
        date="12月31日",
    )
    assert count_segments(body).segments == 1, body
