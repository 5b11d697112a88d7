"""What the bot says when asked for help: one SMS a page, the rest on page 2, and examples
with this deployment's real codes, never the demo's (issue 11, points 11 and 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from bot.segments import count_segments
from storage.models import Role
from tests.conftest import MEMBER, SECRETARY, STRANGER, VILLAGER, Phone
from tests.test_polls import add_person, advance, opened_by_secretary, outbox, sweep

LEADER = "+8613700001000"  # a leader of 青山镇党委 (HX01)
WEST_VILLAGER = "+8613900001201"


def one_segment(body: str) -> bool:
    return count_segments(body).segments == 1


# --- pages -----------------------------------------------------------------------------------


async def test_each_role_gets_a_first_page_in_one_sms_that_points_to_the_second(phone, county: App):
    await add_person(county, "HX01", "欧阳建国", LEADER, Role.LEADER)
    for number, start in [
        (STRANGER, "回复“加入+支部代码”"),
        (VILLAGER, "收到评议回复序号"),
        (MEMBER, "汇报+做了什么"),
        (SECRETARY, "书记：通知+内容"),
        (LEADER, "点评+支部代码+内容"),
    ]:
        page = await phone(number).says_one("帮助")
        assert page.startswith(start), page
        assert page.endswith("更多：帮助2"), page
        assert one_segment(page), page
        more = await phone(number).says_one("帮助2")
        assert more != page and one_segment(more), more


@pytest.mark.parametrize("asked", ["帮助2", "帮助 2", "BZ2", "ｂｚ２", "更多", "帮助二", "帮助2？"])
async def test_page_two_as_people_ask_for_it(phone, asked):
    page = await phone(SECRETARY).says_one(asked)
    # The commands beyond page 1: the week's view, villagers' messages, urgent notices.
    assert page.startswith("本周：谁汇报了；留言：群众留言；紧急通知+内容"), page


async def test_page_two_in_english(phone):
    assert (await phone(VILLAGER).says_one("HELP2")).startswith("Several polls: reply the code")
    assert (await phone(MEMBER).says_one("more")).startswith("PLEDGES: the list")


async def test_not_understood_and_what_to_do_fit_one_sms(phone):
    [reply] = await phone(STRANGER).says("路灯坏了谁来修一下")
    assert reply.startswith("没看懂这条。"), reply
    for number in (STRANGER, VILLAGER, MEMBER):
        [reply] = await phone(number).says(" ")
        assert reply.startswith("没有收到内容。"), reply
        assert one_segment(reply), reply


# --- real codes ------------------------------------------------------------------------------

SOUTH = [
    {"code": "NS", "name": "南山县委", "kind": "county"},
    {"code": "NS03", "name": "石门乡党委", "kind": "township", "parent_code": "NS"},
    {"code": "NS03TW", "name": "石门乡团委", "kind": "youth_league", "parent_code": "NS03"},
    {"code": "NS0302", "name": "柳河村党支部", "kind": "branch", "parent_code": "NS03"},
    {"code": "NS0301", "name": "桃园村党支部", "kind": "branch", "parent_code": "NS03"},
]


async def test_a_stranger_is_shown_a_code_of_this_deployment_not_the_demos(app: App):
    await app.repos.orgs.upsert_many(SOUTH, app.clock.now())
    stranger = Phone(app, STRANGER)
    page = await stranger.says_one("帮助")
    # The first Party branch by code: a real code, never HX0101.
    assert page == "回复“加入+支部代码”参与本村评议，如：加入 NS0301。代码可问村党支部。更多：帮助2"
    assert await stranger.says("加入") == ["请在“加入”后写支部代码，如：加入 NS0301"]
    assert (await stranger.says_one("help")).startswith(
        "Reply JOIN and your branch code to take part, e.g. JOIN NS0301."
    )
    [reply] = await stranger.says("你好")
    assert "NS0301" in reply and "HX0101" not in reply, reply


async def test_without_branches_a_stranger_is_told_to_ask_the_village(app: App):
    await app.repos.orgs.upsert_many(SOUTH[:2], app.clock.now())
    stranger = Phone(app, STRANGER)
    assert await stranger.says("帮助") == [
        "回复“加入+支部代码”参与本村评议，代码请问村党支部。更多：帮助2"
    ]
    assert await stranger.says("加入") == ["请在“加入”后写支部代码，代码可问村党支部。"]


async def test_someone_with_a_branch_is_shown_their_own_code(phone, county: App):
    await add_person(county, "HX0102", "周大娘", WEST_VILLAGER, Role.PUBLIC)
    assert await phone(WEST_VILLAGER).says("加入") == ["请在“加入”后写支部代码，如：加入 HX0102"]


async def test_no_reply_example_names_a_code_the_sender_cannot_use(phone, county: App):
    """Usage hints that once said P7, K7Q2, G3 or HX0101 give the form instead."""
    await add_person(county, "HX01", "欧阳建国", LEADER, Role.LEADER)
    replies = [
        *await phone(SECRETARY).says("结果"),
        *await phone(SECRETARY).says("隐藏"),
        *await phone(LEADER).says("点评 做得好"),
        *await phone(STRANGER).says("承诺列表"),
        *await phone(STRANGER).says("查询"),
    ]
    for reply in replies:
        for demo in ("P7", "K7Q2", "G3", "HX0101"):
            assert demo not in reply, reply
        assert one_segment(reply), reply


# --- five goods ------------------------------------------------------------------------------

FIVE_GOODS = ["领导班子好", "党员队伍好", "工作机制好", "工作业绩好", "群众反映好"]


async def test_five_goods_results_in_two_sms_with_the_privacy_rule_said_once(phone, county: App):
    villagers = [f"+86139000020{i:02d}" for i in range(10)]  # a breakdown needs ten
    for i, number in enumerate(villagers):
        await add_person(county, "HX0101", f"村民{i}", number, Role.PUBLIC)
    await opened_by_secretary(county, "评议 五个好")
    # Ten villagers answer the first four questions; one of them stops before the fifth.
    for i, number in enumerate(villagers):
        answers = ["1", "1", "2", "3"] if i < 7 else ["2", "3", "1", "1"]
        for answer in answers + (["1"] if i else []):
            await phone(number).says(answer)
    advance(county, timedelta(days=7))
    await sweep(county)
    [result] = {r["body"] for r in await outbox(county, "body LIKE :r", {"r": "【评议结果】%"})}
    assert result == (
        "【评议结果】东坡村党支部五个好P1-P5（满意/基本满意/不满意，%）："
        "领导班子好70/30/0；党员队伍好70/0/30；工作机制好30/70/0；工作业绩好30/0/70；"
        "群众反映好作答不足10人，不公布分项。参与10/11人（91%）。"
    )
    assert count_segments(result).segments == 2
