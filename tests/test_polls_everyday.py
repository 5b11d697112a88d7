"""Polls as villagers and operators meet them every day (issue 11.6 and 11.13), on both
backends: a bare digit with several polls open, the echo of what was read, a question mark,
shares that add up, turnout that never passes 100%, and one answer to "is it still open?"
whether asked in chat or on the command line."""

from __future__ import annotations

import asyncio
import csv
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.app import App
from bot.cli import main
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.polls import as_question, poll_state, shares
from bot.roster import import_orgs, import_people
from bot.segments import count_segments
from storage.models import Role
from tests.conftest import KEY, SECRETARY, STRANGER, VILLAGER, Phone
from tests.test_polls import add_person, latest_poll, opened_by_secretary, outbox, tally

ROAD = "评议 您对村里修路满意吗？"
WELL = "评议 村里打井的事办得好吗？"
NEIGHBOURS = [f"+86139000011{i:02d}" for i in range(50, 62)]  # twelve more villagers of 东坡村
VILLAGER_CHAT = "5550003"


async def neighbours(app: App, count: int = 6) -> list[str]:
    for number in NEIGHBOURS[:count]:
        await add_person(app, "HX0101", f"村民{number[-2:]}", number, Role.PUBLIC)
    return NEIGHBOURS[:count]


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI sets up logging for its process; a test runs it in ours."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


async def cli(app: App, db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """`grassroots ARGS` against the test's database, at the test's clock."""
    monkeypatch.setattr("bot.app.SystemClock", lambda: app.clock)
    env = {"GRASSROOTS_DATABASE_URL": db_url, "GRASSROOTS_SECRET_KEY": KEY}
    # English, so the assertions read the figures in one fixed layout.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--lang", "en", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


# --- 11.6: a bare digit --------------------------------------------------------------------


async def test_a_digit_goes_to_the_one_poll_still_waiting(phone, county: App):
    """Was a bug: having answered P1, a villager who receives P2 and replies 2 was asked
    "which poll"."""
    first = await opened_by_secretary(county, ROAD)
    villager = phone(VILLAGER)
    [ack] = await villager.says("1")
    assert ack.startswith("已记录：满意（P1）"), ack
    second = await opened_by_secretary(county, WELL)
    [ack] = await villager.says("2")
    assert ack.startswith("已记录：基本满意（P2）"), ack
    assert (await tally(county, first)).counts == (1, 0, 0)
    assert (await tally(county, second)).counts == (0, 1, 0)
    # Both answered: a digit could mean either, so he is asked which.
    [which] = await villager.says("3")
    assert which.startswith("您有2个评议在进行"), which
    assert (await tally(county, second)).counts == (0, 1, 0)


async def test_two_unanswered_polls_ask_which_then_the_digit_goes_to_the_other(phone, county: App):
    await opened_by_secretary(county, ROAD)
    await opened_by_secretary(county, WELL)
    villager = phone(VILLAGER)
    [which] = await villager.says("1")
    assert which.startswith("您有2个评议在进行：P1、P2"), which
    assert (await villager.says("P1 1"))[0].startswith("已记录：满意（P1）")
    assert (await villager.says("不满意"))[0].startswith("已记录：不满意（P2）")


async def test_a_digit_goes_to_the_five_goods_question_just_sent(phone, county: App):
    await opened_by_secretary(county, ROAD)
    villager = phone(VILLAGER)
    await villager.says("1")
    await opened_by_secretary(county, "评议 五个好")  # P2 to P6, one after the other
    ack, next_question = await villager.says("2")
    assert ack.startswith("已记录：基本满意（P2）"), ack
    assert next_question.startswith("【评议P3】"), next_question
    ack, next_question = await villager.says("3")
    assert ack.startswith("已记录：不满意（P3）"), ack
    assert next_question.startswith("【评议P4】"), next_question
    counts = [(await county.repos.polls.tally(p)).counts for p in await polls(county)]
    assert counts[:3] == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


async def polls(app: App) -> list:
    rows = await app.repos.db.fetch("SELECT id FROM polls ORDER BY id")
    return [await app.repos.polls.get(r["id"]) for r in rows]


async def test_the_echo_is_in_the_direct_reply_only(phone, county: App):
    """The villager sees what was read; no stored row (message log, outbox) pairs him with
    it."""
    await opened_by_secretary(county, ROAD)
    [ack] = await phone(VILLAGER).says("2，路还是坑坑洼洼")
    assert ack == "已记录：基本满意（P1）。谢谢参与！截止后把结果发给您。评论已收到。"
    assert count_segments(ack).segments == 1
    logged = await county.repos.db.fetch(
        "SELECT body, reply FROM inbound_messages WHERE handler = 'poll.comment'"
    )
    assert [r["body"] for r in logged] == ["[P1]"]
    assert "基本满意" not in logged[0]["reply"] and "P1" in logged[0]["reply"]
    # A reply that leaves through the outbox (Telegram) says less, as the log does.
    chat = Address(AddressKind.TELEGRAM, VILLAGER_CHAT)
    await county.repos.people.link(chat, Address(AddressKind.SMS, VILLAGER), county.clock.now())
    inbound = Inbound(Channel.TELEGRAM, "u1", chat, "P1 1", county.clock.now())
    for i, reply in enumerate(await county.router.handle(inbound)):
        await county.repos.outbox.enqueue(f"reply:t:{i}", reply, county.clock.now())
    [queued] = await outbox(county, "address = :a", {"a": VILLAGER_CHAT})
    assert "P1" in queued["body"] and "满意" not in queued["body"], queued


async def test_a_long_option_is_cut_so_the_receipt_stays_one_sms(phone, county: App):
    long_option = (
        "先修通往镇上的那条水泥路再考虑其他事情"
        + "因为雨季马上就要到了大家出行都很不方便尤其是老人和孩子"
    )
    await opened_by_secretary(county, f"评议 先办哪件事/{long_option}/先打井")
    [ack] = await phone(VILLAGER).says("1 路要再修宽一点")
    assert ack.startswith("已记录：先修通往镇上") and "…（P1）" in ack, ack
    assert count_segments(ack).segments == 1, ack


async def test_an_english_reader_gets_the_echo_in_english(phone, county: App):
    await opened_by_secretary(county, ROAD)
    villager = phone(VILLAGER)
    await villager.says("English")
    [ack] = await villager.says("1")
    assert ack.startswith("Recorded: Satisfied (P1)."), ack


# --- 11.13: the question, the shares, the turnout, open or closed --------------------------


@pytest.mark.parametrize(
    ("written", "asked"),
    [
        ("对村委会工作的评价", "对村委会工作的评价？"),
        ("您对修路满意吗", "您对修路满意吗？"),
        ("您对修路满意吗？", "您对修路满意吗？"),
        ("修路满意吗?", "修路满意吗?"),
        ("请为村委会打分：", "请为村委会打分："),
        ("How was the road repair", "How was the road repair?"),
        ("对“修路”", "对“修路”？"),
    ],
)
def test_a_question_gets_a_question_mark(written: str, asked: str) -> None:
    assert as_question(written) == asked


async def test_the_invitation_asks_with_a_question_mark(phone, county: App):
    """Was a bug: 【评议P1】东坡村党支部：对村委会工作的评价回复序号1-3作答…"""
    await opened_by_secretary(county, "评议 对村委会工作的评价")
    [invitation] = await outbox(county, "address = :a", {"a": VILLAGER})
    assert "对村委会工作的评价？回复" in invitation["body"], invitation


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((2, 2, 2), [34, 33, 33]),
        ((1, 1, 1, 1, 1, 1, 1), [15, 15, 14, 14, 14, 14, 14]),
        ((5, 0, 0), [100, 0, 0]),
        ((0, 0, 0), [0, 0, 0]),
        ((1, 2), [33, 67]),
    ],
)
def test_shares_add_up_to_100(counts: tuple[int, ...], expected: list[int]) -> None:
    assert shares(counts) == expected
    assert sum(expected) in (0, 100)


async def test_shares_add_up_in_chat_cli_and_csv(
    phone, county: App, db_url: str, monkeypatch, keep_logging, tmp_path: Path
):
    """Was a bug: three options answered twice each read 33% + 33% + 33% = 99%."""
    numbers = await neighbours(county, 12)  # a breakdown needs ten answers or more
    poll = await opened_by_secretary(county, ROAD)
    for number, answer in zip(numbers, "111122223333", strict=True):
        await phone(number).says(answer)
    county.clock.advance(timedelta(days=7, seconds=1))
    [result] = await phone(SECRETARY).says(f"结果 {poll.code}")
    assert "满意4票（34%）；基本满意4票（33%）；不满意4票（33%）" in result, result
    path = tmp_path / "p1.csv"
    shown = await cli(county, db_url, monkeypatch, "poll", "results", poll.code, "--csv", str(path))
    assert re.findall(r"(\d+)%$", shown.output, re.M) == ["34", "33", "33"], shown.output
    with path.open(encoding="utf-8") as rows:
        assert [row["share_percent"] for row in csv.DictReader(rows)] == ["34", "33", "33"]


async def test_turnout_counts_joiners_in_the_audience_in_chat_and_cli(
    phone, county: App, db_url: str, monkeypatch, keep_logging
):
    """Was a bug: the CLI read 2/1 (200%) and the chat 2/2 (100%) when the one villager
    asked and one who joined later answered, and another joined and did not."""
    poll = await opened_by_secretary(county, ROAD)
    assert (await latest_poll(county)).audience_size == 1
    await phone(VILLAGER).says("1")
    await phone(STRANGER).says("加入 HX0101")
    assert (await phone(STRANGER).says("2"))[0].startswith("已记录：基本满意（P1）")
    await phone(NEIGHBOURS[0]).says("加入 HX0101")
    [open_result] = await phone(SECRETARY).says(f"结果 {poll.code}")
    assert "参与2/3人（67%）" in open_result, open_result
    shown = await cli(county, db_url, monkeypatch, "poll", "results", poll.code)
    assert re.search(r"\b2/3 \(67%\)", shown.output), shown.output
    # Closing (the sweep) does not count anyone twice.
    county.clock.advance(timedelta(days=7))
    from tests.test_polls import sweep

    await sweep(county)
    [closed_result] = await phone(SECRETARY).says(f"结果 {poll.code}")
    assert "参与2/3人（67%）" in closed_result, closed_result
    shown = await cli(county, db_url, monkeypatch, "poll", "results", poll.code)
    assert re.search(r"\b2/3 \(67%\)", shown.output), shown.output


async def test_chat_and_cli_agree_the_poll_closed_without_a_sweep(
    phone, county: App, db_url: str, monkeypatch, keep_logging
):
    poll = await opened_by_secretary(county, ROAD)
    await phone(VILLAGER).says("1")
    shown = await cli(county, db_url, monkeypatch, "poll", "results", poll.code)
    assert shown.output.startswith(f"{poll.code} (open)"), shown.output
    county.clock.advance(poll.closes_at - county.clock.now())  # the closing instant
    assert (await latest_poll(county)).status == "open"  # no sweep has come by
    assert poll_state(poll, county.clock.now()) == "closed"
    shown = await cli(county, db_url, monkeypatch, "poll", "results", poll.code)
    assert shown.output.startswith(f"{poll.code} (closed)"), shown.output
    [result] = await phone(SECRETARY).says(f"结果 {poll.code}")
    assert result.startswith(f"{poll.code}结果："), result
    [late] = await phone(VILLAGER).says("2")
    assert late.startswith(f"评议{poll.code}已于"), late
    assert (await tally(county, poll)).counts == (1, 0, 0)


# --- the demo county -----------------------------------------------------------------------


async def test_a_demo_poll_can_show_results(app: App):
    """`grassroots demo` loads a county where a township's poll gets ten or more answers
    in each village, so its results show a breakdown per branch."""
    demo = resources.files("bot") / "demo"
    now = app.clock.now()
    with resources.as_file(demo / "orgs.csv") as orgs_csv:
        assert not (await import_orgs(app.repos, orgs_csv, now)).errors
    with resources.as_file(demo / "people.csv") as people_csv:
        assert not (await import_people(app.repos, people_csv, now)).errors
        rows = list(csv.DictReader(people_csv.read_text("utf-8").splitlines()))
    phones = [r["手机"] for r in rows]
    assert len(phones) == len(set(phones)), "a phone listed twice"
    assert "13912345678" not in phones  # the README's stranger
    leader = Phone(app, "+8613800000002")  # 李强, 青山镇党委
    await leader.says("评议 镇里的路修得好吗")
    assert (await leader.says("确认"))[0].startswith("评议P1已发出")
    township = [r for r in rows if r["角色"] == "public" and r["组织代码"] in ("HX0101", "HX0102")]
    for i, row in enumerate(township):
        await Phone(app, "+86" + row["手机"]).says(str(1 + i % 3))
    app.clock.advance(timedelta(days=7))  # type: ignore[attr-defined]
    [result] = await leader.says("结果 P1")
    assert "东坡村党支部：满意" in result, result
    assert "西岭村党支部：满意" in result, result
