"""Polls (群众评议) and comments, read as dialogues: who asks, who answers, what is counted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.channels.base import plain_text
from bot.clock import FixedClock
from bot.messages import Address, AddressKind, Channel, Choice, Inbound, Outbound
from bot.polls import open_poll
from bot.segments import count_segments
from bot.texts import texts_for
from scheduler import poll_jobs
from scheduler.jobs import JobContext
from storage.models import Role
from storage.people import RosterEntry
from storage.polls import Poll, Tally
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER, Phone

ZONE = ZoneInfo("Asia/Shanghai")
LEADER = "+8613700000001"  # 钱镇长, a leader of 青山镇党委 (HX01)
WEST_SECRETARY = "+8613800001200"  # 孙书记, secretary of 西岭村 (HX0102)
WEST_VILLAGER = "+8613900001201"  # 周大娘, a villager of 西岭村 (HX0102)
VILLAGER_CHAT = "5550002"  # 赵大爷's Telegram chat

ROAD = "评议 您对村里修路满意吗？"  # default options: 满意/基本满意/不满意
# The direct reply echoes the option read; stored copies (log, outbox) say only the code.
THANKS = "已记录：{option}（{code}）。谢谢参与！截止后把结果发给您。"
CHANGED = "已改为：{option}（{code}）。"
STORED_THANKS = "已收到您对{code}的评议，谢谢参与！截止后把结果发给您。"
STORED_CHANGED = "已更新您对{code}的评议。"
COMMENT_KEPT = "评论已收到。"
OPTIONS = ["满意", "基本满意", "不满意"]  # the default options
NEEDS_SECRETARY = "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
VILLAGER_HELP = texts_for("zh-CN").get("help.unknown") + texts_for("zh-CN").get("help.public")


# --- helpers -------------------------------------------------------------------------------


async def org_id(app: App, code: str) -> int:
    org = await app.repos.orgs.by_code(code)
    assert org is not None
    return org.id


async def add_person(app: App, code: str, name: str, number: str, role: Role) -> int:
    entry = RosterEntry(await org_id(app, code), name, Address(AddressKind.SMS, number), role)
    [person] = await app.repos.people.import_roster([entry], app.clock.now())
    return person


async def person_of(app: App, number: str) -> int:
    person = (await app.repos.people.resolve(Address(AddressKind.SMS, number))).person_id
    assert person is not None
    return person


async def latest_poll(app: App) -> Poll:
    poll_id = await app.repos.db.fetchval("SELECT MAX(id) FROM polls")
    poll = await app.repos.polls.get(poll_id)
    assert poll is not None
    return poll


async def fresh(app: App, poll: Poll) -> Poll:
    found = await app.repos.polls.get(poll.id)
    assert found is not None
    return found


async def opened_by_secretary(app: App, text: str = ROAD) -> Poll:
    """The secretary of 东坡村 asks, sees the preview, and confirms."""
    secretary = Phone(app, SECRETARY)
    [preview] = await secretary.says(text)
    assert "预览" in preview or "五个好评议" in preview, preview
    [opened] = await secretary.says("确认")
    assert opened.startswith("评议P"), opened
    poll = await latest_poll(app)
    assert poll.status == "open"
    return poll


async def tally(app: App, poll: Poll) -> Tally:
    return await app.repos.polls.tally(await fresh(app, poll))


def advance(app: App, delta: timedelta) -> None:
    assert isinstance(app.clock, FixedClock)
    app.clock.advance(delta)


def job_context(app: App) -> JobContext:
    return JobContext(app.repos, ZONE, "zh-CN")


async def sweep(app: App) -> int:
    return await poll_jobs.sweep(job_context(app), app.clock.now())


async def outbox(app: App, where: str = "1 = 1", params: dict | None = None) -> list[dict]:
    """Queued messages by address (sorted here: the databases' collations differ)."""
    rows = await app.repos.db.fetch(
        f"SELECT id, address_kind, address, body, choices FROM outbox WHERE {where}", params
    )
    return sorted((dict(r) for r in rows), key=lambda r: (r["address"], r["id"]))


async def comments(app: App) -> list[dict]:
    """Every comment, published or waiting sealed (as those who read them see it), by its
    text (a collation-free order for both databases)."""
    orgs = [r["id"] for r in await app.repos.db.fetch("SELECT id FROM organisations")]
    found = await app.repos.comments.for_orgs(orgs, limit=10_000, include_hidden=True)
    keys = ("code", "org_id", "poll_id", "body", "status")
    return sorted(({k: getattr(c, k) for k in keys} for c in found), key=lambda c: c["body"])


async def over_telegram(app: App, chat: str, body: str) -> list[str]:
    inbound = Inbound(
        Channel.TELEGRAM,
        uuid.uuid4().hex,
        Address(AddressKind.TELEGRAM, chat),
        body,
        app.clock.now(),
    )
    return [reply.body for reply in await app.router.handle(inbound)]


def use_settings(app: App, **changes: object) -> None:
    """Participation settings as a deployment's config would set them."""
    app.router.settings = dataclasses.replace(app.router.settings, **changes)  # type: ignore[arg-type]


# --- creating a poll -----------------------------------------------------------------------


async def test_secretary_previews_counts_per_channel_then_confirms(phone, county: App):
    now = county.clock.now()
    await county.repos.people.link(
        Address(AddressKind.TELEGRAM, VILLAGER_CHAT), Address(AddressKind.SMS, VILLAGER), now
    )
    await add_person(county, "HX0101", "钱二嫂", "+8613900001102", Role.PUBLIC)
    await add_person(county, "HX0102", "周大娘", WEST_VILLAGER, Role.PUBLIC)  # not in 东坡村
    secretary = phone(SECRETARY)

    assert await secretary.says(ROAD) == [
        "P1预览：您对村里修路满意吗？（满意/基本满意/不满意），发给群众2人：短信1人，每条2段；"
        "Telegram 1人。12-03 10:00截止。回复“确认”发出，“取消”作废。"
    ]
    assert await outbox(county) == []  # nothing leaves before 确认
    assert (await latest_poll(county)).status == "draft"

    assert await secretary.says("确认") == ["评议P1已发出，共2人。回复“结果 P1”看结果。"]
    sent = await outbox(county)
    assert [(r["address_kind"], r["address"]) for r in sent] == [
        ("sms", "+8613900001102"),
        ("telegram", VILLAGER_CHAT),  # 赵大爷 on his preferred channel, once
    ]
    ask = (
        "【评议P1】东坡村党支部：您对村里修路满意吗？"
        "回复序号1-3作答，序号后可附评论。12-03 10:00截止。"
    )
    assert {r["body"] for r in sent} == {ask}
    buttons = json.loads(sent[0]["choices"])
    assert buttons == [
        {"key": "P1 1", "label": "满意"},
        {"key": "P1 2", "label": "基本满意"},
        {"key": "P1 3", "label": "不满意"},
    ]
    # The preview's segment count is what the SMS really costs (the question and the list).
    as_sms = Outbound(
        Address(AddressKind.SMS, ""), ask, tuple(Choice(b["key"], b["label"]) for b in buttons)
    )
    assert count_segments(plain_text(as_sms)).segments == 2
    poll = await latest_poll(county)
    assert (poll.status, poll.audience_size) == ("open", 2)


async def test_secretary_cancels_the_preview_and_nothing_is_sent(phone, county: App):
    secretary = phone(SECRETARY)
    [preview] = await secretary.says("评议 #党员 学习会开得好吗/好/一般/差")
    assert preview.startswith(
        "P1预览：学习会开得好吗？（好/一般/差），发给党员3人：短信3人，每条1段"
    )
    assert await secretary.says("取消") == ["评议P1已作废。"]
    assert (await latest_poll(county)).status == "cancelled"
    assert await outbox(county) == []
    # The question was asked once: a later 确认 sends nothing.
    assert "评议P1已发出" not in "".join(await secretary.says("确认"))
    assert (await latest_poll(county)).status == "cancelled"
    assert await outbox(county) == []


async def test_creating_a_poll_needs_a_secretary_and_says_so(phone, county: App):
    assert await phone(MEMBER).says(ROAD) == [NEEDS_SECRETARY]
    assert await phone(VILLAGER).says("PY 修路好不好") == [NEEDS_SECRETARY]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM polls") == 0


async def test_a_poll_without_a_question_or_with_one_option_is_explained(phone, county: App):
    secretary = phone(SECRETARY)
    assert await secretary.says("评议") == [
        "请在“评议”后写问题，选项用“/”或换行分开，如：评议 您对修路满意吗？/满意/不满意"
    ]
    assert await secretary.says("评议 修路/好") == ["选项需要2到9个。"]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM polls") == 0


# --- answering -----------------------------------------------------------------------------

# (what the villager sends, the option it picks (0-based), the comment it carries)
ANSWER_FORMS = [
    ("1", 0, None),
    ("２", 1, None),  # full-width digit
    ("３", 2, None),
    ("一", 0, None),  # Chinese numerals
    ("二", 1, None),
    ("A", 0, None),  # letter options
    ("b", 1, None),
    ("ｃ", 2, None),
    ("满意", 0, None),  # the option's word
    ("基本满意", 1, None),  # not 满意, though it ends with it
    ("不满意", 2, None),
    ("Fairly satisfied", 1, None),  # the English label of a bilingual poll
    ("1 路灯修好了", 0, "路灯修好了"),
    ("2，水渠还没修", 1, "水渠还没修"),  # Chinese punctuation
    ("２。村口垃圾没人清！", 1, "村口垃圾没人清！"),
    ("3, the canal is still broken.", 2, "the canal is still broken."),  # ASCII punctuation
    ("3-路灯又坏了", 2, "路灯又坏了"),
    ("不满意：路灯又坏了", 2, "路灯又坏了"),
    ("{code} 3", 2, None),  # the poll's code first
    ("{lower}：1 很好", 0, "很好"),
    ("Ｐ{id}　２", 1, None),  # a full-width code
]


@pytest.mark.parametrize(("text", "choice", "comment"), ANSWER_FORMS)
async def test_every_answer_form_counts(phone, county: App, text, choice, comment):
    poll = await opened_by_secretary(county)
    sent = text.format(code=poll.code, lower=poll.code.lower(), id=poll.id)

    option = OPTIONS[choice]
    expected = THANKS.format(code=poll.code, option=option) + (COMMENT_KEPT if comment else "")
    assert await phone(VILLAGER).says(sent) == [expected]

    counts = [0, 0, 0]
    counts[choice] = 1
    result = await tally(county, poll)
    assert (result.counts, result.participants) == (tuple(counts), 1)
    stored = await comments(county)
    if comment is None:
        assert stored == []
    else:
        assert [(c["body"], c["poll_id"], c["status"]) for c in stored] == [
            (comment, poll.id, "published")
        ]
        assert stored[0]["org_id"] == await org_id(county, "HX0101")


async def test_a_word_option_wins_over_a_numeral_it_begins_with(phone, county: App):
    poll = await opened_by_secretary(county, "评议 #全体 学习会开得好吗/好/一般/差")
    assert await phone(VILLAGER).says("一般") == [THANKS.format(code=poll.code, option="一般")]
    assert await phone(MEMBER).says("一") == [THANKS.format(code=poll.code, option="好")]
    assert (await tally(county, poll)).counts == (1, 1, 0)


@pytest.mark.parametrize("text", ["你好", "5", "0", "all good", "P1"])
async def test_an_unmatched_reply_is_asked_again_and_not_counted(phone, county: App, text):
    poll = await opened_by_secretary(county)
    sms = Address(AddressKind.SMS, VILLAGER)
    replies = await county.router.handle(
        Inbound(Channel.SMS, uuid.uuid4().hex, sms, text, county.clock.now())
    )
    assert [r.body for r in replies] == [
        "没看懂您的回答。【评议P1】东坡村党支部：您对村里修路满意吗？"
        "回复序号1-3作答，序号后可附评论。12-03 10:00截止。"
    ]
    assert [c.key for c in replies[0].choices] == ["P1 1", "P1 2", "P1 3"]  # buttons again
    result = await tally(county, poll)
    assert (result.total, result.participants) == (0, 0)


async def test_a_villager_who_reads_english_is_asked_and_thanked_in_english(phone, county: App):
    await county.repos.people.set_language(await person_of(county, VILLAGER), "en")
    poll = await opened_by_secretary(county)
    [ask] = await outbox(county)
    assert ask["body"] == (
        "[Poll P1] 东坡村党支部: 您对村里修路满意吗？ Reply 1-3; you may add a comment after "
        "the number. Closes 12-03 10:00."
    )
    assert [c["label"] for c in json.loads(ask["choices"])] == [
        "Satisfied",
        "Fairly satisfied",
        "Dissatisfied",
    ]
    assert await phone(VILLAGER).says("dissatisfied") == [
        "Recorded: Dissatisfied (P1). Thank you! Results come when it closes."
    ]
    assert (await tally(county, poll)).counts == (0, 0, 1)


async def test_a_villager_changes_their_answer(phone, county: App):
    poll = await opened_by_secretary(county)
    villager = phone(VILLAGER)
    assert await villager.says("1") == [THANKS.format(code="P1", option="满意")]
    assert await villager.says("3 路还是坑坑洼洼") == [
        CHANGED.format(code="P1", option="不满意") + COMMENT_KEPT
    ]
    assert await villager.says("P1 2") == [CHANGED.format(code="P1", option="基本满意")]
    result = await tally(county, poll)
    assert (result.counts, result.total, result.participants) == ((0, 1, 0), 1, 1)


async def test_outsiders_are_not_counted(phone, county: App):
    poll = await opened_by_secretary(county)
    await add_person(county, "HX0102", "周大娘", WEST_VILLAGER, Role.PUBLIC)

    assert await phone(STRANGER).says("1") == [
        "没看懂这条。回复“加入+支部代码”参与本村评议，如：加入 HX0101。代码可问村党支部。"
        "更多：帮助2"
    ]
    assert await phone(WEST_VILLAGER).says("P1 1") == [
        "评议P1面向东坡村党支部的群众，您不在其中，谢谢关心。"
    ]
    assert await phone(WEST_VILLAGER).says("1") == [VILLAGER_HELP]
    # A member is not among a villagers' poll's audience: their "2" is not an answer.
    assert await phone(MEMBER).says("P1 2") == [
        "评议P1面向东坡村党支部的群众，您不在其中，谢谢关心。"
    ]
    assert await phone(VILLAGER).says("P9 1") == ["没有进行中的评议P9，请核对编号。"]
    result = await tally(county, poll)
    assert (result.total, result.participants) == (0, 0)


async def test_two_open_polls_need_the_code(phone, county: App):
    first = await opened_by_secretary(county)
    second = await opened_by_secretary(county, "评议 水渠修得好吗/好/不好")
    villager = phone(VILLAGER)
    assert await villager.says("1") == ["您有2个评议在进行：P1、P2。请回复编号加序号，如“P1 1”。"]
    assert await villager.says("P2 2") == [THANKS.format(code="P2", option="不好")]
    assert await villager.says("P1 1") == [THANKS.format(code="P1", option="满意")]
    assert (await tally(county, first)).counts == (1, 0, 0)
    assert (await tally(county, second)).counts == (0, 1)


# --- late replies, closing, results --------------------------------------------------------


async def test_a_late_reply_is_told_the_poll_closed(phone, county: App):
    poll = await opened_by_secretary(county)
    villager = phone(VILLAGER)
    assert await villager.says("2") == [THANKS.format(code="P1", option="基本满意")]

    advance(county, timedelta(days=7, minutes=1))
    assert await sweep(county) > 0
    assert (await fresh(county, poll)).status == "closed"
    closed = "评议P1已于12-03 10:00截止，结果已发给参与者。"
    assert await villager.says("1") == [closed]
    assert await villager.says("P1 3 太晚了") == [closed]
    assert (await tally(county, poll)).counts == (0, 1, 0)

    advance(county, timedelta(days=8))  # long after: a digit is just a digit again
    assert await villager.says("1") == [VILLAGER_HELP]


async def test_a_reply_after_the_deadline_is_late_even_before_the_sweep_ran(phone, county: App):
    """Was a bug: the deadline was enforced only by the sweep. A reply that arrives after
    closes_at but before the scheduler's next sweep (a minute normally; hours if the scheduler
    is down) is counted, and goes into the results."""
    poll = await opened_by_secretary(county)
    advance(county, timedelta(days=7, minutes=1))  # the poll said 12-03 10:00截止
    assert await phone(VILLAGER).says("1") == ["评议P1已于12-03 10:00截止，结果已发给参与者。"]
    await sweep(county)
    result = await tally(county, poll)
    assert (result.total, result.participants) == (0, 0)


async def test_the_sweep_closes_the_poll_and_sends_results_once(phone, county: App):
    poll = await opened_by_secretary(county)
    await phone(VILLAGER).says("1")
    before = len(await outbox(county))

    advance(county, timedelta(days=6, hours=23))
    assert await sweep(county) == 0  # not yet
    assert (await fresh(county, poll)).status == "open"

    advance(county, timedelta(hours=1))
    queued = await sweep(county)
    results = await outbox(county, "body LIKE :r", {"r": "【评议结果】%"})
    assert [r["address"] for r in results] == [SECRETARY, VILLAGER]  # answered, and asked
    assert {r["body"] for r in results} == {
        "【评议结果】东坡村党支部P1：您对村里修路满意吗？作答1人，不足10人不公布分项。参与1/1人（100%）。"
    }
    assert queued == 2 and len(await outbox(county)) == before + 2
    closed = await fresh(county, poll)
    assert closed.status == "closed" and closed.results_sent_at is not None

    assert await sweep(county) == 0  # a second sweep (or a second process) sends nothing
    assert len(await outbox(county)) == before + 2
    # Members who were not asked get no results.
    assert await outbox(county, "address IN (:a, :b)", {"a": MEMBER, "b": MEMBER_2}) == []


async def test_results_hide_a_breakdown_of_fewer_than_ten(phone, county: App):
    neighbours = [f"+86139000020{i:02d}" for i in range(5)]
    for number in neighbours:
        await add_person(county, "HX0101", f"村民{number[-2:]}", number, Role.PUBLIC)
    poll = await opened_by_secretary(county)
    for number, answer in zip(neighbours[:4], ["1", "1", "2", "3"], strict=True):
        await phone(number).says(answer)
    secretary = phone(SECRETARY)
    assert await secretary.says(f"结果 {poll.code}") == [
        "P1进行中，参与4/6人（67%）。为保护匿名，分项在12-03 10:00截止后公布。"
    ]
    county.clock.advance(timedelta(days=7))  # closing time: the figures may be shown
    assert await secretary.says(f"结果 {poll.code}") == [
        "P1结果：作答4人，不足10人不公布分项。参与4/6人（67%）。"
    ]
    # A fifth answer after the close is not counted, so the breakdown stays hidden.
    assert (await phone(VILLAGER).says("满意"))[0].startswith("评议P1已于")
    assert await secretary.says("JG P1") == [
        "P1结果：作答4人，不足10人不公布分项。参与4/6人（67%）。"
    ]


async def test_turnout_never_counts_more_than_were_asked(phone, county: App):
    """Was a bug: the audience is counted when the poll opens, but anyone who becomes a
    villager of the branch later may answer; turnout then reads 参与2/1人（200%）."""
    poll = await opened_by_secretary(county)
    await phone(VILLAGER).says("1")
    await phone(STRANGER).says("加入 HX0101")  # joins after the poll went out
    assert await phone(STRANGER).says(f"{poll.code} 2") == [
        THANKS.format(code=poll.code, option="基本满意")
    ]
    [result] = await phone(SECRETARY).says(f"结果{poll.code}")
    answered, asked = map(int, re.findall(r"参与(\d+)/(\d+)人", result)[0])
    assert answered <= asked, result


async def test_results_of_another_branchs_poll_are_refused(phone, county: App):
    now = county.clock.now()
    west = await county.repos.polls.create(
        org_id=await org_id(county, "HX0102"),
        question="西岭村的水渠修得好吗？",
        options=["好", "不好"],
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(days=7),
        status="open",
        now=now,
    )
    assert await phone(SECRETARY).says(f"结果 {west.code}") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(VILLAGER).says(f"结果 {west.code}") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(SECRETARY).says("结果") == ["请写“结果+评议编号”，编号以P开头，见评议短信。"]


async def township_with_villagers(app: App, east: int, west: int) -> list[str]:
    """A leader of 青山镇, and villagers in both branches; returns their numbers."""
    await add_person(app, "HX01", "钱镇长", LEADER, Role.LEADER)
    numbers = []
    entries = []
    for code, count, prefix in (
        ("HX0101", east, "+861390000210"),
        ("HX0102", west, "+861390000310"),
    ):
        branch = await org_id(app, code)
        for i in range(count):
            number = f"{prefix}{i:02d}"
            numbers.append(number)
            entries.append(
                RosterEntry(
                    branch, f"村民{number[-4:]}", Address(AddressKind.SMS, number), Role.PUBLIC
                )
            )
    await app.repos.people.import_roster(entries, app.clock.now())
    return numbers


# 东坡村's ten (5/3/2), then 西岭村's three (1/2/0).
TOWNSHIP_ANSWERS = list("1123112231" + "122")


async def test_a_leaders_township_poll_reaches_both_branches_with_results_per_branch(
    phone, county: App
):
    numbers = await township_with_villagers(county, east=10, west=3)
    leader = phone(LEADER)
    [preview] = await leader.says("评议 镇里的路修得好吗")
    assert preview.startswith(
        "P1预览：镇里的路修得好吗？（满意/基本满意/不满意），发给群众14人：短信14人"
    )
    assert await leader.says("确认") == ["评议P1已发出，共14人。回复“结果 P1”看结果。"]
    asked = {r["address"] for r in await outbox(county)}
    assert asked == {VILLAGER, *numbers}  # 东坡村's eleven and 西岭村's three

    for number, answer in zip(numbers, TOWNSHIP_ANSWERS, strict=True):
        assert await phone(number).says(answer) == [
            THANKS.format(code="P1", option=OPTIONS[int(answer) - 1])
        ]
    county.clock.advance(timedelta(days=7))  # closed: figures may be shown
    [result] = await leader.says("结果 P1")
    assert result.startswith(
        "P1结果：满意6票（46%）；基本满意5票（39%）；不满意2票（15%）。参与13/14人（93%）。"
    )
    # 西岭村 has three answers: only the count. 东坡村 has ten, but its breakdown would give
    # 西岭村's away by subtraction from the overall figures, so it is withheld too.
    assert "东坡村党支部：作答10人，分项不单列以免推算出其他支部" in result
    assert "西岭村党支部：作答3人，不足10人不公布分项" in result
    assert "党支部：满意" not in result

    # A branch secretary does not see a township's poll.
    assert await phone(SECRETARY).says("结果 P1") == [
        "在青山镇党委此操作需要支部书记或上级党委负责人身份。"
    ]


async def test_branches_with_ten_answers_each_show_their_breakdowns(phone, county: App):
    numbers = await township_with_villagers(county, east=10, west=10)
    leader = phone(LEADER)
    await leader.says("评议 镇里的路修得好吗")
    await leader.says("确认")
    answers = list("1123112311" + "1222322231")
    for number, answer in zip(numbers, answers, strict=True):
        await phone(number).says(answer)
    county.clock.advance(timedelta(days=7))  # closed: figures may be shown
    [result] = await leader.says("结果 P1")
    assert "东坡村党支部：满意6票（60%）；基本满意2票（20%）；不满意2票（20%）" in result
    assert "西岭村党支部：满意2票（20%）；基本满意6票（60%）；不满意2票（20%）" in result


async def test_a_hidden_branch_breakdown_cannot_be_worked_out_from_the_others(phone, county: App):
    """Was a bug: 西岭村's three answers are "not shown", but the overall breakdown minus
    东坡村's gives them exactly (1 满意, 2 基本满意, 0 不满意): a villager of 西岭村 who knows
    how two neighbours answered learns the third's answer."""
    numbers = await township_with_villagers(county, east=10, west=3)
    leader = phone(LEADER)
    await leader.says("评议 镇里的路修得好吗")
    await leader.says("确认")
    for number, answer in zip(numbers, TOWNSHIP_ANSWERS, strict=True):
        await phone(number).says(answer)
    county.clock.advance(timedelta(days=7))  # closed: figures may be shown
    [result] = await leader.says("结果 P1")
    overall, _, branches = result.partition("参与")
    overall_shown = "票" in overall
    east_shown = "东坡村党支部：满意" in branches
    assert not (overall_shown and east_shown), result


# --- the five goods template ---------------------------------------------------------------


async def test_five_goods_asks_each_question_after_the_one_before(phone, county: App):
    secretary = phone(SECRETARY)
    assert await secretary.says("评议 五个好") == [
        "五个好评议（P1起共5题）发给群众1人：短信1人，首题每条2段。"
        "12-03 10:00截止。回复“确认”发出，“取消”作废。"
    ]
    assert await secretary.says("确认") == ["评议P1已发出，共1人。回复“结果 P1”看结果。"]
    # Only the first question is broadcast.
    assert [r["body"] for r in await outbox(county)] == [
        "【评议P1】东坡村党支部：您对本支部“领导班子好”满意吗？"
        "回复序号1-3作答，序号后可附评论。12-03 10:00截止。"
    ]

    villager = phone(VILLAGER)
    goods = ["党员队伍好", "工作机制好", "工作业绩好", "群众反映好"]
    answers = ["1", "2 班子团结", "3", "满意"]
    for i, (good, answer) in enumerate(zip(goods, answers, strict=True), start=1):
        replies = await villager.says(answer)
        assert replies[0].startswith("已记录：") and f"（P{i}）" in replies[0], replies
        assert replies[1:] == [
            f"【评议P{i + 1}】东坡村党支部：您对本支部“{good}”满意吗？"
            "回复序号1-3作答，序号后可附评论。12-03 10:00截止。"
        ]
    assert await villager.says("不满意") == [  # the last: nothing next
        THANKS.format(code="P5", option="不满意")
    ]

    expected = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (0, 0, 1)]
    counts = []
    for poll_id in range(1, 6):
        poll = await county.repos.polls.get(poll_id)
        assert poll is not None and poll.status == "open"
        counts.append((await county.repos.polls.tally(poll)).counts)
    assert counts == expected
    assert [c["body"] for c in await comments(county)] == ["班子团结"]
    # An earlier question can still be changed with its code.
    assert await villager.says("P1 3") == [CHANGED.format(code="P1", option="不满意")]


async def test_five_goods_results_go_out_once_all_questions_together(phone, county: App):
    await opened_by_secretary(county, "评议 五个好")
    villager = phone(VILLAGER)
    for answer in ["1", "1", "2", "3", "1"]:
        await villager.says(answer)
    advance(county, timedelta(days=7))
    assert await sweep(county) == 2  # 赵大爷 and the secretary, one message each
    assert await sweep(county) == 0
    results = await outbox(county, "body LIKE :r", {"r": "【评议结果】%"})
    assert [r["address"] for r in results] == [SECRETARY, VILLAGER]
    body = results[0]["body"]
    # Too few answers to any question: the privacy rule is said once, not five times.
    assert body == (
        "【评议结果】东坡村党支部五个好P1-P5：各题作答不足10人，不公布分项。参与1/1人（100%）。"
    )
    statuses = await county.repos.db.fetch("SELECT status FROM polls ORDER BY id")
    assert [r["status"] for r in statuses] == ["closed"] * 5


async def test_five_goods_questions_come_on_telegram_as_buttons(phone, county: App):
    await county.repos.people.link(
        Address(AddressKind.TELEGRAM, VILLAGER_CHAT),
        Address(AddressKind.SMS, VILLAGER),
        county.clock.now(),
    )
    await opened_by_secretary(county, "评议 五个好")
    inbound = Inbound(
        Channel.TELEGRAM,
        uuid.uuid4().hex,
        Address(AddressKind.TELEGRAM, VILLAGER_CHAT),
        "P1 2",  # a button press
        county.clock.now(),
    )
    thanks, second = await county.router.handle(inbound)
    assert thanks.body == THANKS.format(code="P1", option="基本满意")
    assert thanks.stored_body == STORED_THANKS.format(code="P1")  # what the outbox keeps
    assert [c.key for c in second.choices] == ["P2 1", "P2 2", "P2 3"]
    assert [c.label for c in second.choices] == ["满意", "基本满意", "不满意"]


# --- answers that may not change -----------------------------------------------------------


async def test_a_poll_that_allows_no_change_keeps_the_first_answer(phone, county: App):
    now = county.clock.now()
    poll = await county.repos.polls.create(
        org_id=await org_id(county, "HX0101"),
        question="村委会选举投票点设在村小学可以吗？",
        options=["可以", "不可以"],
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(days=3),
        status="scheduled",
        allow_change=False,
        now=now,
    )
    assert await sweep(county) == 1  # the sweep opens it: one villager asked
    assert (await fresh(county, poll)).status == "open"
    assert await sweep(county) == 0

    villager = phone(VILLAGER)
    assert await villager.says("1") == [THANKS.format(code=poll.code, option="可以")]
    assert await villager.says("2 我改主意了") == [f"您已评议过{poll.code}，本次评议不能更改答案。"]
    assert await villager.says(f"{poll.code} 2") == [
        f"您已评议过{poll.code}，本次评议不能更改答案。"
    ]
    assert (await tally(county, poll)).counts == (1, 0)
    assert await comments(county) == []  # a refused answer keeps no comment either


async def test_open_poll_is_safe_to_repeat(county: App):
    now = county.clock.now()
    poll = await county.repos.polls.create(
        org_id=await org_id(county, "HX0101"),
        question="修路？",
        options=["好", "不好"],
        audience="all",
        opens_at=now,
        closes_at=now + timedelta(days=3),
        status="scheduled",
        now=now,
    )
    assert await open_poll(county.repos, poll, now, ZONE, "zh-CN") == 4
    assert await open_poll(county.repos, poll, now, ZONE, "zh-CN") == 4
    assert len(await outbox(county)) == 4  # the secretary, two members, the villager


# --- comments ------------------------------------------------------------------------------


async def test_a_comment_is_kept_without_its_author(phone, county: App):
    villager = phone(VILLAGER)
    assert await villager.says("评论 村口路灯坏了三天了") == ["评论已收到，谢谢！"]
    [stored] = await comments(county)
    assert (stored["body"], stored["status"], stored["poll_id"]) == (
        "村口路灯坏了三天了",
        "published",
        None,
    )
    assert stored["org_id"] == await org_id(county, "HX0101")
    logged = await county.repos.db.fetch(
        "SELECT body FROM inbound_messages WHERE handler = 'comment'"
    )
    assert [r["body"] for r in logged] == ["[comment]"]  # the log keeps that, not what

    assert await villager.says("评论") == ["请在“评论”后写内容，如：评论 村口路灯坏了"]
    assert await phone(STRANGER).says("评论 你们好") == [
        "此操作需要本支部群众或党员身份。回复“帮助”查看您能做的事。"
    ]
    assert len(await comments(county)) == 1


async def test_a_comment_with_a_hold_word_waits_for_review(phone, county: App):
    use_settings(county, hold_words=("骗子", "贪污"))
    poll = await opened_by_secretary(county)
    villager = phone(VILLAGER)
    assert await villager.says("评论 书记是个骗子") == ["评论已收到，审核后公开。"]
    assert await villager.says("3 村里有人贪污修路款") == [
        THANKS.format(code=poll.code, option="不满意") + COMMENT_KEPT
    ]
    assert await villager.says("评论 谢谢村里修路") == ["评论已收到，谢谢！"]
    assert [(c["body"], c["status"]) for c in await comments(county)] == [
        ("书记是个骗子", "held"),
        ("村里有人贪污修路款", "held"),
        ("谢谢村里修路", "published"),
    ]


async def test_comments_per_hour_are_limited(phone, county: App):
    use_settings(county, comments_per_hour=2)
    poll = await opened_by_secretary(county)
    villager = phone(VILLAGER)
    assert await villager.says("评论 路灯坏了") == ["评论已收到，谢谢！"]
    assert await villager.says("1 路修得好") == [
        THANKS.format(code=poll.code, option="满意") + COMMENT_KEPT
    ]
    limit = "您一小时内评论已满2条，这条评论未保存，请稍后再发。"
    assert await villager.says("评论 水渠也坏了") == [limit]
    # The answer still counts; only its comment is not kept.
    assert await villager.says("2 再说一句") == [
        CHANGED.format(code=poll.code, option="基本满意") + limit
    ]
    assert (await tally(county, poll)).counts == (0, 1, 0)
    # Another villager is not limited by this one.
    await add_person(county, "HX0101", "钱二嫂", "+8613900001102", Role.PUBLIC)
    assert await phone("+8613900001102").says("评论 垃圾没人清") == ["评论已收到，谢谢！"]

    advance(county, timedelta(hours=1, minutes=1))
    assert await villager.says("评论 水渠也坏了") == ["评论已收到，谢谢！"]
    assert sorted(c["body"] for c in await comments(county)) == sorted(
        ["路灯坏了", "路修得好", "垃圾没人清", "水渠也坏了"]
    )


async def test_the_secretary_lists_hides_and_publishes_comments(phone, county: App):
    use_settings(county, hold_words=("骗子",))
    villager = phone(VILLAGER)
    await villager.says("评论 村口路灯坏了")
    await villager.says("评论 会计是骗子")
    codes = {c["body"]: c["code"] for c in await comments(county)}
    lamp, liar = codes["村口路灯坏了"], codes["会计是骗子"]
    secretary = phone(SECRETARY)

    # Held ones first, so the secretary sees what waits for review.
    assert await secretary.says("评论列表") == [
        f"东坡村党支部评论（2条）：{liar}[待审]：会计是骗子 {lamp}：村口路灯坏了"
    ]
    assert await secretary.says(f"公开 {liar}") == [f"评论{liar}已公开。"]
    assert await secretary.says(f"隐藏 {lamp.lower()}") == [f"评论{lamp}已隐藏。"]
    assert await secretary.says("PLL") == [f"东坡村党支部评论（1条）：{liar}：会计是骗子"]
    assert await secretary.says("隐藏 ZZZZ") == ["没有评论ZZZZ。"]
    assert await secretary.says("隐藏") == ["请写评论编号（见评论列表），如：隐藏+编号，公开+编号"]
    assert {c["code"]: c["status"] for c in await comments(county)} == {
        lamp: "hidden",
        liar: "published",
    }


async def test_comments_in_pinyin_and_english(phone, county: App):
    assert await phone(VILLAGER).says("PL 路灯坏了") == ["评论已收到，谢谢！"]
    assert await phone(VILLAGER).says("COMMENT the well is dry") == ["Comment received. Thank you!"]
    codes = {c["body"]: c["code"] for c in await comments(county)}
    secretary = phone(SECRETARY)
    assert await secretary.says(f"HIDE {codes['the well is dry']}") == [
        f"Comment {codes['the well is dry']} hidden."
    ]
    assert await secretary.says(f"YC {codes['路灯坏了']}") == [f"评论{codes['路灯坏了']}已隐藏。"]
    assert await secretary.says(f"APPROVE {codes['路灯坏了']}") == [
        f"Comment {codes['路灯坏了']} published."
    ]
    assert await secretary.says("COMMENTS") == [
        f"东坡村党支部 comments (1): {codes['路灯坏了']}: 路灯坏了"
    ]


async def test_villagers_and_members_may_not_moderate_comments(phone, county: App):
    use_settings(county, hold_words=("骗子",))
    await phone(VILLAGER).says("评论 会计是骗子")
    [held] = await comments(county)
    for number in (VILLAGER, MEMBER):
        assert await phone(number).says("评论列表") == [NEEDS_SECRETARY]
        # The refusal is the same whether or not the code exists (12.9).
        assert await phone(number).says(f"公开 {held['code']}") == [NEEDS_SECRETARY]
        assert await phone(number).says(f"隐藏 {held['code']}") == [NEEDS_SECRETARY]
    # Nor may the secretary of another branch: to them it is no comment at all.
    await add_person(county, "HX0102", "孙书记", WEST_SECRETARY, Role.SECRETARY)
    assert await phone(WEST_SECRETARY).says(f"隐藏 {held['code']}") == [f"没有评论{held['code']}。"]
    assert await phone(WEST_SECRETARY).says("评论列表") == ["西岭村党支部暂无评论。"]
    assert [c["status"] for c in await comments(county)] == ["held"]


# --- what wins over an answer --------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "reply"),
    [
        ("TD", "已退订，不再收到通知。回复“订阅”可恢复。"),
        ("退订", "已退订，不再收到通知。回复“订阅”可恢复。"),
        ("STOP", "You will get no more messages. Reply START to resume."),
    ],
)
async def test_opting_out_wins_while_a_poll_is_open(phone, county: App, word, reply):
    poll = await opened_by_secretary(county)
    assert await phone(VILLAGER).says(word) == [reply]
    opted = await county.repos.db.fetchval(
        "SELECT opted_out_at FROM addresses WHERE value = :v", {"v": VILLAGER}
    )
    assert opted is not None
    result = await tally(county, poll)
    assert (result.total, result.participants) == (0, 0)


async def test_a_members_report_stays_a_report_while_a_members_poll_is_open(phone, county: App):
    poll = await opened_by_secretary(county, "评议 #党员 这个月的党课讲得好吗/好/一般/差")
    member = phone(MEMBER)
    assert await member.says("今天帮五保户挑水") == [
        "已记录【服务群众】。本周第1条，连续1天。谢谢！"
    ]
    assert await member.says("汇报 2 组织村民修好了水渠") == [
        "已记录【争创佳绩】。本周第2条，连续1天。谢谢！"
    ]
    assert (await tally(county, poll)).total == 0
    assert await member.says("2") == [THANKS.format(code=poll.code, option="一般")]
    assert await member.says("b") == [CHANGED.format(code=poll.code, option="一般")]
    assert (await tally(county, poll)).counts == (0, 1, 0)
    deeds = await county.repos.deeds.for_person(await person_of(county, MEMBER))
    assert sorted(str(d["body"]) for d in deeds) == ["今天帮五保户挑水", "组织村民修好了水渠"]
    # A villager is not asked a members' poll: their digit is not taken as an answer.
    assert await phone(VILLAGER).says("2") == [VILLAGER_HELP]
    assert (await tally(county, poll)).participants == 1


# --- two channels, one person --------------------------------------------------------------


async def test_an_answer_by_sms_and_again_by_telegram_counts_once(phone, county: App):
    await county.repos.people.link(
        Address(AddressKind.TELEGRAM, VILLAGER_CHAT),
        Address(AddressKind.SMS, VILLAGER),
        county.clock.now(),
    )
    poll = await opened_by_secretary(county)
    assert await phone(VILLAGER).says("1") == [THANKS.format(code=poll.code, option="满意")]
    # The button for 不满意 on the poll's Telegram message.
    assert await over_telegram(county, VILLAGER_CHAT, f"{poll.code} 3") == [
        CHANGED.format(code=poll.code, option="不满意")
    ]
    assert await over_telegram(county, VILLAGER_CHAT, "2") == [
        CHANGED.format(code=poll.code, option="基本满意")
    ]
    result = await tally(county, poll)
    assert (result.counts, result.total, result.participants) == ((0, 1, 0), 1, 1)
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM sealed_ballots") == 1


# --- a thousand villagers at once ----------------------------------------------------------


async def test_a_thousand_villagers_answering_at_once_are_counted_exactly(county: App):
    now = county.clock.now()
    branch = await org_id(county, "HX0101")
    numbers = [f"+86137{i:08d}" for i in range(1000)]
    await county.repos.people.import_roster(
        [
            RosterEntry(branch, f"村民{i}", Address(AddressKind.SMS, n), Role.PUBLIC)
            for i, n in enumerate(numbers)
        ],
        now,
    )
    poll = await county.repos.polls.create(
        org_id=branch,
        question="您对村里修路满意吗？",
        options=["满意", "基本满意", "不满意"],
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(days=7),
        status="scheduled",
        now=now,
    )
    assert await sweep(county) == 1001  # the thousand and 赵大爷

    def inbound(i: int, number: str) -> Inbound:
        answer = ["1", "２", "三 路要再修宽一点"][i % 3]
        return Inbound(Channel.SMS, f"SM{i:032d}", Address(AddressKind.SMS, number), answer, now)

    replies = await asyncio.gather(
        *(county.router.handle(inbound(i, n)) for i, n in enumerate(numbers))
    )
    assert sum(1 for r in replies if r[0].body.startswith("已记录：")) == 1000

    result = await tally(county, poll)
    assert result.counts == (334, 333, 333)
    assert (result.total, result.participants) == (1000, 1000)
    assert len(await comments(county)) == 333
    # A provider that delivers some of them again changes nothing.
    again = await asyncio.gather(
        *(county.router.handle(inbound(i, n)) for i, n in enumerate(numbers[:50]))
    )
    # (with the reply kept in the log, which does not echo the choice)
    thanks = STORED_THANKS.format(code=poll.code)
    assert all(r[0].body.startswith(thanks) for r in again)
    result = await tally(county, poll)
    assert (result.counts, result.participants) == ((334, 333, 333), 1000)


# --- polls about a commitment, and on a named branch ---------------------------------------


async def test_the_public_rates_a_published_commitment(phone, county: App):
    from scheduler import commitment_jobs

    await phone(MEMBER).says("承诺 每周走访两户困难户")
    secretary = phone(SECRETARY)
    assert await secretary.says("评议 C1") == [
        "没有已公示的承诺C1，请核对编号（承诺列表可查）。"  # not yet published
    ]
    await commitment_jobs.sweep(JobContext(county.repos, ZONE, "zh-CN"), county.clock.now())
    [preview] = await secretary.says("评议 C1")
    assert preview.startswith(
        "P1预览：您对李秀英的承诺C1“每周走访两户困难户”的落实情况满意吗？"
        "（满意/基本满意/不满意），发给群众1人"
    ), preview
    assert await secretary.says("确认") == ["评议P1已发出，共1人。回复“结果 P1”看结果。"]
    poll = await county.repos.polls.get(1)
    assert poll is not None and poll.subject == "commitment:1"
    assert poll.question_en is not None and "C1" in poll.question_en
    assert await phone(VILLAGER).says("2") == [THANKS.format(code="P1", option="基本满意")]
    assert await phone(MEMBER).says("评议 C1") == [
        "在东坡村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await secretary.says("评议 C9") == ["没有已公示的承诺C9，请核对编号（承诺列表可查）。"]


async def test_a_leader_names_the_branch_a_poll_is_for(phone, county: App):
    await add_person(county, "HX01", "钱镇长", LEADER, Role.LEADER)
    await add_person(county, "HX0102", "周大娘", WEST_VILLAGER, Role.PUBLIC)
    leader = phone(LEADER)
    [preview] = await leader.says("评议 hx0102 水渠修得好吗？")
    assert preview.startswith("P1预览：水渠修得好吗？（满意/基本满意/不满意），发给群众1人")
    await leader.says("确认")
    assert [r["address"] for r in await outbox(county)] == [WEST_VILLAGER]
    # A secretary may not name another branch; a word that is no code stays the question.
    assert await phone(SECRETARY).says("评议 HX0102 水渠修得好吗？") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    [preview] = await phone(SECRETARY).says("评议 WiFi 信号好吗？")
    assert preview.startswith("P2预览：WiFi 信号好吗？"), preview
