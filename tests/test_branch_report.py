"""Issue 11.4: secretaries and leaders see their branch from the phone, read as dialogues.

A secretary's "汇报情况" (and every way of asking it) shows this week in the branch, never
files a deed; a leader sees each organisation below, inactive first; "查询 HX0101" shows one
organisation to those above it and reveals nothing to anyone else; leaders report too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from bot.messages import Address, AddressKind
from bot.segments import count_segments
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, VILLAGER, Phone

TOWNSHIP_LEADER = "+8613800000002"  # 李强, 青山镇党委 (above both branches)
COUNTY_LEADER = "+8613800000001"  # 赵明, 和兴县委
WEST_SECRETARY = "+8613800002100"  # 周海燕, 西岭村党支部
WEST_MEMBERS = ("+8613800002101", "+8613800002102")

EAST_WEEK = "【本周汇报】东坡村党支部：3条，2/3人已报。未报1人：王志强。已报：李秀英2，张建国1。"
REFUSED = "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"


async def add_people(app: App) -> None:
    """Both branches staffed (西岭村 with three members), a township and a county leader."""
    ids = {c: (await app.repos.orgs.by_code(c)).id for c in ("HX", "HX01", "HX0102")}
    sms = AddressKind.SMS
    await app.repos.people.import_roster(
        [
            RosterEntry(ids["HX"], "赵明", Address(sms, COUNTY_LEADER), Role.LEADER),
            RosterEntry(ids["HX01"], "李强", Address(sms, TOWNSHIP_LEADER), Role.LEADER),
            RosterEntry(ids["HX0102"], "周海燕", Address(sms, WEST_SECRETARY), Role.SECRETARY),
            RosterEntry(ids["HX0102"], "吴建华", Address(sms, WEST_MEMBERS[0]), Role.MEMBER),
            RosterEntry(ids["HX0102"], "郑丽", Address(sms, WEST_MEMBERS[1]), Role.MEMBER),
        ],
        app.clock.now(),
    )


@pytest.fixture
async def staffed(county: App) -> App:
    await add_people(county)
    await Phone(county, MEMBER).says("汇报 #服务 看望老人")
    await Phone(county, MEMBER).says("汇报 修路")
    await Phone(county, SECRETARY).says("汇报 上党课")
    return county


async def deeds(app: App) -> int:
    return int(await app.repos.db.fetchval("SELECT COUNT(*) FROM deeds"))


@pytest.mark.parametrize(
    "asking",
    [
        "汇报情况",
        "汇报情况？",
        "本周",
        "本周汇报",
        "本周汇报情况怎么样？",
        "统计",
        "谁没汇报",
        "谁没汇报?",
        "这周谁没汇报啊",
        "HBQK",
        "smhb",
        "统计 HX0101",
        "本周HX0101",
        "汇报情况 HX0101",
        "查询 HX0101",
        "查询HX0101",
        "cx hx0101",
        # As people ask it: the rule, not a list of phrases.
        "本周谁没有汇报",
        "看看本周汇报",
        "查看汇报情况",
        "支部汇报情况",
        "哪些人没汇报",
        "这周谁还没交汇报？",
        "汇报率",
        "HX0101汇报情况",
        "查询本周汇报",
        "查询 东坡村",
    ],
)
async def test_a_secretary_sees_the_week_and_files_no_deed(staffed: App, asking: str):
    assert await Phone(staffed, SECRETARY).says(asking) == [EAST_WEEK]
    assert await deeds(staffed) == 3


async def test_last_week(staffed: App):
    staffed.clock.advance(timedelta(days=7))
    secretary = Phone(staffed, SECRETARY)
    assert await secretary.says("上周汇报情况") == [EAST_WEEK.replace("本周", "上周")]
    assert await secretary.says("本周") == [
        "【本周汇报】东坡村党支部：0条，0/3人已报。未报3人：张建国，李秀英，王志强。"
    ]
    assert await Phone(staffed, TOWNSHIP_LEADER).says("上周呢？") == [
        "【上周汇报】青山镇党委所辖2个组织：3条，2/6人已报。无汇报1个：西岭村党支部。"
        "其余：东坡村党支部2/3。"
    ]
    assert await deeds(staffed) == 3


async def test_in_english(staffed: App):
    english = (
        "This week in 东坡村党支部: 3 reports, 2/3 reported. Not yet (1): 王志强."
        " Reported: 李秀英 2, 张建国 1."
    )
    for asking in ("WEEK", "stats", "Who?"):
        assert await Phone(staffed, SECRETARY).says(asking) == [english]
    assert await deeds(staffed) == 3


async def test_a_long_branch_names_who_has_not_reported_first_within_two_sms(staffed: App):
    branch = await staffed.repos.orgs.by_code("HX0101")
    await staffed.repos.people.import_roster(
        [
            RosterEntry(
                branch.id,
                f"党员{i:02d}号",
                Address(AddressKind.SMS, f"+86138200{i:05d}"),
                Role.MEMBER,
            )
            for i in range(40)
        ],
        staffed.clock.now(),
    )
    [week] = await Phone(staffed, SECRETARY).says("汇报情况")
    assert week.startswith(
        "【本周汇报】东坡村党支部：3条，2/43人已报。未报41人：王志强，党员00号，党员01号，"
    )
    assert "等。" in week
    assert count_segments(week).segments == 2


async def test_a_leader_sees_each_branch_below_inactive_first(staffed: App):
    view = "所辖2个组织：3条，2/6人已报。无汇报1个：西岭村党支部。其余：东坡村党支部2/3。"
    assert await Phone(staffed, TOWNSHIP_LEADER).says("本周") == [f"【本周汇报】青山镇党委{view}"]
    assert await Phone(staffed, COUNTY_LEADER).says("汇报情况") == [f"【本周汇报】和兴县委{view}"]
    # A leader's plain 查询: the week below them (they belong to no branch).
    assert await Phone(staffed, TOWNSHIP_LEADER).says("查询") == [f"【本周汇报】青山镇党委{view}"]
    assert await deeds(staffed) == 3


async def test_a_code_after_query_inside_and_outside_the_scope(staffed: App):
    leader = Phone(staffed, TOWNSHIP_LEADER)
    assert await leader.says("查询 HX0101") == [EAST_WEEK]
    assert await leader.says("统计 hx0102") == [
        "【本周汇报】西岭村党支部：0条，0/3人已报。未报3人：周海燕，吴建华，郑丽。"
    ]
    assert await Phone(staffed, COUNTY_LEADER).says("查询 HX01") == [
        "【本周汇报】青山镇党委所辖2个组织：3条，2/6人已报。无汇报1个：西岭村党支部。"
        "其余：东坡村党支部2/3。"
    ]
    # Outside the scope: the role it needs, nothing about the organisation.
    assert await Phone(staffed, WEST_SECRETARY).says("查询 HX0101") == [REFUSED]
    assert await Phone(staffed, SECRETARY).says("查询 HX01") == [REFUSED]
    assert await Phone(staffed, MEMBER).says("查询 HX0101") == [REFUSED]
    assert await Phone(staffed, VILLAGER).says("统计 HX0101") == [REFUSED]
    assert await Phone(staffed, MEMBER).says("查询 HX0199") == [REFUSED]  # no probing codes
    assert await leader.says("HX0101") == [EAST_WEEK]  # a lone code from those above it
    assert await leader.says("东坡村的情况") == [EAST_WEEK]
    assert await leader.says("查询 西岭村") == await leader.says("统计 hx0102")
    assert await leader.says("查询 HX0199") == ["没有找到代码“HX0199”。请写组织代码，如：查询 HX01"]
    assert await deeds(staffed) == 3


async def test_plain_query_stays_my_record_and_members_get_their_own_week(staffed: App):
    own = "本周2条，累计2条：学习0/0，佳绩0/0，服务1/1，守法0/0，正气0/0，未分类1/1（本周/累计）"
    assert await Phone(staffed, MEMBER).says("查询") == [own]
    assert await Phone(staffed, MEMBER).says("本周") == [own]
    assert await Phone(staffed, MEMBER_2).says("统计") == [
        "您还没有汇报。发送“汇报+内容”即可记录。"
    ]
    assert await Phone(staffed, VILLAGER).says("本周") == [
        "您是东坡村党支部的群众。汇报记录只为党员保存；收到评议时回复数字即可参与。"
    ]
    assert await deeds(staffed) == 3


async def test_a_report_that_begins_with_the_words_is_still_a_report(staffed: App):
    assert await Phone(staffed, MEMBER_2).says("汇报情况：今天走访5户") == [
        "已记录【服务群众】。本周第1条，连续1天。谢谢！"
    ]
    body = await staffed.repos.db.fetchval("SELECT body FROM deeds ORDER BY id DESC LIMIT 1")
    assert body == "情况：今天走访5户"
    assert await Phone(staffed, MEMBER_2).says("查询了低保政策，帮王大爷办了手续") == [
        "已记录【服务群众】。本周第2条，连续1天。谢谢！"
    ]
    assert await Phone(staffed, MEMBER_2).says("HX0101") == [  # not the week: a member
        "已记录。本周第3条，连续1天。谢谢！"
    ]
    assert await Phone(staffed, SECRETARY).says("本周，参加了党课学习") == [
        "已记录【学习提高】。本周第2条，连续1天。谢谢！"
    ]


async def test_a_leader_reports_and_sees_it_in_their_record(staffed: App):
    leader = Phone(staffed, TOWNSHIP_LEADER)
    assert await leader.says("汇报 到西岭村调研") == ["已记录。本周第1条，连续1天。谢谢！"]
    assert await leader.says("今天走访困难党员") == [  # free text: leaders are members
        "已记录【服务群众】。本周第2条，连续1天。谢谢！"
    ]
    rows = await staffed.repos.db.fetch(
        "SELECT o.code FROM deeds d JOIN organisations o ON o.id = d.org_id "
        "JOIN addresses a ON a.person_id = d.person_id WHERE a.value = :p",
        {"p": TOWNSHIP_LEADER},
    )
    assert [r["code"] for r in rows] == ["HX01", "HX01"]  # where they lead
    assert await leader.says("查询") == [
        "您本周汇报2条，累计2条。【本周汇报】青山镇党委所辖2个组织：5条，2/6人已报。"
        "无汇报1个：西岭村党支部。其余：东坡村党支部2/3。"
    ]
