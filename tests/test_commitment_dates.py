"""Due dates as people write them in a commitment (issue 11, point 9): the grammar of
bot/dates.py over many forms, then dialogues: the date words set the due date and leave
the text, words that cannot be read are asked back, and a chat-only sandbox publishes."""

from __future__ import annotations

from datetime import date

import pytest

from bot.app import App
from bot.dates import cn_number, find_due, read_due
from tests.conftest import MEMBER, SECRETARY, VILLAGER
from tests.test_commitments import outbox, sweep

TODAY = date(2026, 11, 26)  # a Thursday, as the county fixture's clock


@pytest.mark.parametrize(
    ("text", "value"),
    [("十", 10), ("二十", 20), ("三", 3), ("十二", 12), ("二十五", 25), ("两", 2), ("31", 31)],
)
def test_chinese_numerals(text, value):
    assert cn_number(text) == value


@pytest.mark.parametrize("text", ["", "二二", "十户", "abc"])
def test_what_is_no_number(text):
    assert cn_number(text) is None


@pytest.mark.parametrize(
    ("text", "due", "left"),
    [
        ("修路 到 明天", date(2026, 11, 27), "修路 "),
        ("修路 到 今天", date(2026, 11, 26), "修路 "),
        ("修路到后天", date(2026, 11, 28), "修路"),
        ("大后天前修好水泵", date(2026, 11, 29), "修好水泵"),
        ("修路 到 下周五", date(2026, 12, 4), "修路 "),
        ("本周五前清理河道", date(2026, 11, 27), "清理河道"),
        ("清理河道 周五前", date(2026, 11, 27), "清理河道 "),
        ("周三前清理河道", date(2026, 12, 2), "清理河道"),  # the next Wednesday
        ("下个星期一前交材料", date(2026, 11, 30), "交材料"),
        ("下下周三前交材料", date(2026, 12, 9), "交材料"),
        ("本周内走访五户", date(2026, 11, 29), "走访五户"),
        ("修路 到 下个月", date(2026, 12, 31), "修路 "),
        ("下个月前修路", date(2026, 11, 30), "修路"),
        ("月底前完成两户帮扶", date(2026, 11, 30), "完成两户帮扶"),
        ("帮扶两户 到本月底", date(2026, 11, 30), "帮扶两户 "),
        ("下月底前修路", date(2026, 12, 31), "修路"),
        ("年底前修好村口路灯", date(2026, 12, 31), "修好村口路灯"),
        ("修好村口路灯 到 年底", date(2026, 12, 31), "修好村口路灯 "),
        ("今年年底前修好路灯", date(2026, 12, 31), "修好路灯"),
        ("明年底前建好文化广场", date(2027, 12, 31), "建好文化广场"),
        ("明年上半年建好文化广场", date(2027, 6, 30), "建好文化广场"),
        ("国庆前修通村道", date(2027, 9, 30), "修通村道"),
        ("春节前发放慰问金", date(2027, 2, 5), "发放慰问金"),
        ("元旦前发放慰问金", date(2026, 12, 31), "发放慰问金"),
        ("七一前发展两名党员", date(2027, 6, 30), "发展两名党员"),
        ("三八节前慰问留守妇女", date(2027, 3, 7), "慰问留守妇女"),
        ("中秋节前发放慰问品", date(2027, 9, 14), "发放慰问品"),
        ("十天内修好水渠", date(2026, 12, 6), "修好水渠"),
        ("10天内修好水渠", date(2026, 12, 6), "修好水渠"),
        ("二十天之内修好水渠", date(2026, 12, 16), "修好水渠"),
        ("三个月内完成改厕", date(2027, 2, 26), "完成改厕"),
        ("一周内完成排查", date(2026, 12, 3), "完成排查"),
        ("两个星期内完成排查", date(2026, 12, 10), "完成排查"),
        ("半个月内完成排查", date(2026, 12, 11), "完成排查"),
        ("三年内脱贫", date(2029, 11, 26), "脱贫"),
        ("帮扶两户 到 12月31日", date(2026, 12, 31), "帮扶两户 "),
        ("十二月三十一日前帮扶两户", date(2026, 12, 31), "帮扶两户"),
        ("帮扶两户 到 12-31", date(2026, 12, 31), "帮扶两户 "),
        ("帮扶两户 12-31前", date(2026, 12, 31), "帮扶两户 "),
        ("修好水渠 到 1-15", date(2027, 1, 15), "修好水渠 "),  # past this year: next year's
        ("修好水渠 截止 2027-01-15", date(2027, 1, 15), "修好水渠 "),
        ("修好水渠 2027年1月15日前", date(2027, 1, 15), "修好水渠 "),
        ("3月底前种好果树", date(2027, 3, 31), "种好果树"),
        ("30号前交齐材料", date(2026, 11, 30), "交齐材料"),
        ("修好水渠 到2027年底", date(2027, 12, 31), "修好水渠 "),
        ("2027年6月底前修好水渠", date(2027, 6, 30), "修好水渠"),
        ("明年春节前发放慰问金", date(2027, 2, 5), "发放慰问金"),
        ("明天下午修好水泵", date(2026, 11, 27), "修好水泵"),
        ("周五晚上8点前交材料", date(2026, 11, 27), "交材料"),
        ("交齐材料 到 15号", date(2026, 12, 15), "交齐材料 "),
        ("帮扶两户困难户，到12月31日前完成", date(2026, 12, 31), "帮扶两户困难户，"),
        ("在国庆前把村道修好", date(2027, 9, 30), "把村道修好"),
        ("fix the pump by friday", date(2026, 11, 27), "fix the pump "),
        ("fix the pump by next monday", date(2026, 11, 30), "fix the pump "),
        ("fix the pump by 12-31", date(2026, 12, 31), "fix the pump "),
        ("fix the pump within 10 days", date(2026, 12, 6), "fix the pump "),
        ("fix the pump by the end of the month", date(2026, 11, 30), "fix the pump "),
    ],
)
def test_due_date_forms(text, due, left):
    found = find_due(text, TODAY)
    assert found is not None and found.due == due, found
    assert text[: found.start] + text[found.end :] == left


@pytest.mark.parametrize(
    "text",
    [
        "修路 到 下下下周",
        "修路 到 猴年马月",
        "修路 到 13月5日",
        "修路 到 2-30",
        "修路 截止 2025-12-31",  # already past
        "修路到上周五",
        "修路 到 节后",
    ],
)
def test_date_words_that_cannot_be_read(text):
    found = find_due(text, TODAY)
    assert found is not None and found.due is None, found
    assert text[: found.start].strip() == "修路"


@pytest.mark.parametrize(
    "text",
    [
        "每周走访两户困难户",
        "每周五打扫村部卫生",
        "周一到周五在村部值班",
        "每周一至周五轮流值班",
        "人均增收到3000元",
        "今天起每天打扫村道",
        "明天开工修路，每周汇报进展",
        "帮扶十一户困难户",
        "帮扶二十八一户",
        "送到五保户家里",
        "完成3-5户改厕",
        "每月15日前上交党费",
        "每天送饭到3号楼",
        "帮扶5户，每户补助2000元",
    ],
)
def test_what_is_no_due_date(text):
    assert find_due(text, TODAY) is None


@pytest.mark.parametrize(
    ("answer", "due"),
    [
        ("下周五", date(2026, 12, 4)),
        ("12月31日", date(2026, 12, 31)),
        ("12-31", date(2026, 12, 31)),
        ("到年底", date(2026, 12, 31)),
        ("friday", date(2026, 11, 27)),
        ("十天内", date(2026, 12, 6)),
    ],
)
def test_an_answer_that_is_only_a_date(answer, due):
    found = read_due(answer, TODAY)
    assert found is not None and found.due == due


def test_an_answer_that_is_more_than_a_date_is_no_answer():
    assert read_due("今天去村部开会", TODAY) is None
    assert read_due("修路", TODAY) is None


# --- dialogues ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "body", "due", "due_text"),
    [
        ("承诺 修路 到 明天", "修路", date(2026, 11, 27), "11月27日"),
        ("承诺 修路 到 下周五", "修路", date(2026, 12, 4), "12月4日"),
        ("承诺 年底前修好村口路灯", "修好村口路灯", date(2026, 12, 31), "12月31日"),
        ("承诺 十天内修好水渠", "修好水渠", date(2026, 12, 6), "12月6日"),
        ("承诺 国庆前修通村道", "修通村道", date(2027, 9, 30), "2027年9月30日"),
    ],
)
async def test_relative_dates_set_the_due_date_and_leave_the_text(
    phone, county: App, text, body, due, due_text
):
    assert await phone(MEMBER).says(text) == [
        f"已登记承诺C1（{due_text}到期），即将向群众公示。完成后回复“完成 C1”，"
        "进展可“汇报 #C1 内容”。"
    ]
    c = await county.repos.commitments.get(1)
    assert (c.body, c.due_on) == (body, due)
    await sweep(county)
    [(to, published)] = await outbox(county)
    assert to == VILLAGER and f"C1李秀英：{body}（{due_text}前）" in published


async def test_a_date_that_cannot_be_read_is_asked_back_and_the_answer_sets_it(phone, county: App):
    member = phone(MEMBER)
    assert await member.says("承诺 修路 到 下下下周") == [
        "没看懂期限“到 下下下周”，或日期已过。请回复期限，如：12月31日、下周五、月底；"
        "回复“无”不设期限。"
    ]
    assert await county.repos.commitments.get(1) is None  # nothing published with it
    [asked_again] = await member.says("猴年马月")
    assert asked_again.startswith("没看懂期限“猴年马月”")
    [made] = await member.says("下周五")
    assert made.startswith("已登记承诺C1（12月4日到期）")
    c = await county.repos.commitments.get(1)
    assert (c.body, c.due_on) == ("修路", date(2026, 12, 4))


async def test_the_answer_may_give_no_due_date_or_cancel(phone, county: App):
    member = phone(MEMBER)
    await member.says("承诺 修好村口路灯 到 猴年马月")
    [made] = await member.says("无")
    assert made.startswith("已登记承诺C1，")
    c = await county.repos.commitments.get(1)
    assert (c.body, c.due_on) == ("修好村口路灯", None)
    await member.says("承诺 清理河道 到 13月5日")
    assert await member.says("取消") == ["承诺未登记。"]
    assert await county.repos.commitments.get(2) is None


async def test_a_report_after_the_question_stays_a_report(phone, county: App):
    member = phone(MEMBER)
    await member.says("承诺 修路 到 下下下周")
    [reply] = await member.says("今天帮五保户挑水")
    assert reply.startswith("已记录")
    assert await county.repos.commitments.get(1) is None


async def test_the_branchs_commitment_takes_the_same_dates(phone, county: App):
    [reply] = await phone(SECRETARY).says("承诺 支部 春节前发放慰问金")
    assert reply.startswith("已登记东坡村党支部承诺C1（2027年2月5日到期）")
    c = await county.repos.commitments.get(1)
    assert (c.is_branch, c.body) == (True, "发放慰问金")


# --- a chat-only sandbox publishes as serve would -----------------------------------------


def test_a_chat_sandbox_publishes_as_serve_would(tmp_path):
    """`grassroots chat` runs no scheduler: the sweeps serve runs on a timer run before each
    message, so a commitment made in chat is published and can be rated at once."""
    from tests.test_cli import grassroots

    assert grassroots(tmp_path, "demo").returncode == 0
    result = grassroots(
        tmp_path,
        "chat",
        "--from",
        "13800001100",  # 张建国, secretary of HX0101
        stdin="承诺 支部 年底前修通村道\n评议 C1\n确认\n",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("已登记东坡村党支部承诺C1（12月31日到期）"), lines
    # The publication was queued for the branch's villagers (it waits for `serve`: a
    # terminal sends nothing but its own replies) ...
    assert "短信" in result.stderr, result.stderr
    # ... so the secretary's poll on it is accepted rather than "not published" ...
    assert not any(line.startswith("没有已公示的承诺C1") for line in lines), lines
    assert any(line.startswith("P1预览：") for line in lines), lines
    assert any(line.startswith("评议P1已发出，共") for line in lines), lines
