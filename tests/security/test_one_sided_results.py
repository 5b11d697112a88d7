"""12.5: one-sided results. Five identical answers tell every voter's choice as surely as one;
four against one tell the one dissenter what the other four chose. The rule: no breakdown of
fewer than MIN_BREAKDOWN (10) answers is shown anywhere (chat results, the close-of-poll
broadcast, the five goods' lines, a branch in a leader's view, the CLI and its CSV), only
how many answered. The rule looks at the count alone, never at the answers: a breakdown
withheld only when it is one-sided would say by being withheld that it is one-sided."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.polls import MIN_BREAKDOWN
from storage.models import Role
from tests.conftest import SECRETARY, VILLAGER
from tests.test_polls import (
    LEADER,
    add_person,
    advance,
    opened_by_secretary,
    outbox,
    sweep,
    township_with_villagers,
)
from tests.test_polls_everyday import cli, keep_logging  # noqa: F401 (a fixture)

ROAD = "评议 您对村里修路满意吗？"
# Answers given by 赵大爷 and his neighbours, in order.
UNANIMOUS = "11111"
FOUR_TO_ONE = "11113"


async def villagers(app: App, count: int) -> list[str]:
    """赵大爷 and `count - 1` neighbours of 东坡村."""
    numbers = [f"+861390000{i:04d}" for i in range(7000, 7000 + count - 1)]
    for number in numbers:
        await add_person(app, "HX0101", f"村民{number[-4:]}", number, Role.PUBLIC)
    return [VILLAGER, *numbers]


async def run_poll(phone, app: App, numbers: list[str], answers: str) -> str:
    """The branch answers, the poll closes (the sweep sends the results); the secretary's
    view of them."""
    poll = await opened_by_secretary(app, ROAD)
    for number, answer in zip(numbers, answers, strict=True):
        [ack] = await phone(number).says(answer)
        assert ack.startswith("已记录："), ack
    advance(app, timedelta(days=7))
    assert await sweep(app) > 0
    [result] = await phone(SECRETARY).says(f"结果 {poll.code}")
    return result


async def answered_and_closed(phone, app: App, answers: str) -> str:
    return await run_poll(phone, app, await villagers(app, len(answers)), answers)


def figures_in(text: str) -> bool:
    return "票" in text or "%）；" in text or "/0/0" in text


@pytest.mark.parametrize("answers", [UNANIMOUS, FOUR_TO_ONE, "111111111", "111111112"])
async def test_a_small_one_sided_poll_shows_only_turnout(phone, county: App, answers: str):
    result = await answered_and_closed(phone, county, answers)
    n = len(answers)
    assert result == (
        f"P1结果：作答{n}人，不足{MIN_BREAKDOWN}人不公布分项。参与{n}/{n}人（100%）。"
    )
    broadcast = await outbox(county, "body LIKE :r", {"r": "【评议结果】%"})
    assert len(broadcast) == n + 1  # those who answered, and the secretary
    assert all(not figures_in(r["body"]) for r in broadcast), broadcast
    assert all(f"作答{n}人" in r["body"] for r in broadcast)


async def test_withholding_does_not_say_the_answers_were_one_sided(phone, county: App):
    """A mixed small poll reads exactly as a unanimous one: being withheld tells nothing."""
    numbers = await villagers(county, 6)
    mixed = await run_poll(phone, county, numbers, "123123")
    unanimous = await run_poll(phone, county, numbers, "222222")
    assert unanimous == mixed.replace("P1", "P2"), (mixed, unanimous)


async def test_ten_answers_show_their_breakdown(phone, county: App):
    result = await answered_and_closed(phone, county, "1111111111")
    assert result.startswith("P1结果：满意10票（100%）；基本满意0票（0%）；不满意0票（0%）"), result


async def test_a_one_sided_branch_is_not_shown_in_a_leaders_view(phone, county: App):
    # 东坡村: 赵大爷 and 10 more; 西岭村: 6 who all answer the same.
    numbers = await township_with_villagers(county, east=10, west=6)
    leader = phone(LEADER)
    await leader.says("评议 镇里的路修得好吗")
    await leader.says("确认")
    for number, answer in zip([VILLAGER, *numbers], "12312312311" + "333333", strict=True):
        await phone(number).says(answer)
    advance(county, timedelta(days=7))
    [result] = await leader.says("结果 P1")
    assert "西岭村党支部：作答6人，不足10人不公布分项" in result, result
    # 东坡村's 11 alone would give 西岭村's 6 away by subtraction from the whole.
    assert "东坡村党支部：作答11人，分项不单列以免推算出其他支部" in result, result


async def test_five_goods_lines_with_few_answers_show_no_shares(phone, county: App):
    numbers = await villagers(county, 5)
    await opened_by_secretary(county, "评议 五个好")
    for number in numbers:
        for _ in range(5):  # every question, the same answer
            await phone(number).says("1")
    advance(county, timedelta(days=7))
    await sweep(county)
    [body] = {r["body"] for r in await outbox(county, "body LIKE :r", {"r": "【评议结果】%"})}
    assert "100/0/0" not in body and "（满意/基本满意/不满意" not in body, body
    assert f"各题作答不足{MIN_BREAKDOWN}人，不公布分项" in body, body


async def test_the_cli_and_its_csv_show_no_small_one_sided_breakdown(
    phone,
    county: App,
    db_url: str,
    monkeypatch,
    keep_logging,  # noqa: F811
    tmp_path: Path,
):
    await answered_and_closed(phone, county, FOUR_TO_ONE)
    path = tmp_path / "p1.csv"
    for extra in ((), ("--force",)):
        args = ("poll", "results", "P1", "--csv", str(path), *extra)
        shown = await cli(county, db_url, monkeypatch, *args)
        assert "turnout: 5/5 (100%), 5 answers" in shown.output, shown.output
        assert re.findall(r"\d+%$", shown.output, re.M) == [], shown.output
        assert f"(fewer than {MIN_BREAKDOWN} answers: hidden)" in shown.output
        with path.open(encoding="utf-8") as rows:
            assert {(r["count"], r["share_percent"]) for r in csv.DictReader(rows)} == {("", "")}
