"""Recommending model members (推荐), read as dialogues; the secretary's list and shortlist."""

from __future__ import annotations

from bot.app import App
from bot.messages import Address, AddressKind
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER

# Roster order in 东坡村 (the numbers 推荐列表 and 入围 take): 1 张建国, 2 李秀英, 3 王志强.
WANG_FANG_EAST = "+8613800001103"  # 4号 in 东坡村
WANG_FANG_WEST = "+8613800001201"  # 2号 in 西岭村 (after its secretary)
WEST_SECRETARY = "+8613800001200"
LEADER = "+8613700000001"  # 青山镇党委
UNLISTED = "编号指我发给您的名单里的序号。请写姓名：推荐 姓名 理由"


async def add_people(app: App) -> None:
    orgs = {o.code: o.id for o in await app.repos.orgs.all()}
    sms = AddressKind.SMS
    await app.repos.people.import_roster(
        [
            RosterEntry(orgs["HX0101"], "王芳", Address(sms, WANG_FANG_EAST), Role.MEMBER),
            RosterEntry(orgs["HX0102"], "刘书记", Address(sms, WEST_SECRETARY), Role.SECRETARY),
            RosterEntry(orgs["HX0102"], "王芳", Address(sms, WANG_FANG_WEST), Role.MEMBER),
            RosterEntry(orgs["HX01"], "孙镇长", Address(sms, LEADER), Role.LEADER),
        ],
        app.clock.now(),
    )


async def stored(app: App) -> list[tuple[str, str, str, str]]:
    """(branch code, nominee, recommender, reason) of every recommendation."""
    rows = await app.repos.db.fetch(
        """
        SELECT o.code, n.name AS nominee, r.name AS recommender, x.reason
        FROM recommendations x
        JOIN organisations o ON o.id = x.org_id
        JOIN people n ON n.id = x.nominee_id
        JOIN people r ON r.id = x.recommender_id
        ORDER BY x.id
        """
    )
    return [(r["code"], r["nominee"], r["recommender"], r["reason"]) for r in rows]


async def test_a_villager_recommends_a_member_once_per_round(phone, county: App):
    villager = phone(VILLAGER)
    assert await villager.says("推荐 王志强 带头修通了村路，自己垫钱买水泥") == [
        "已收到您对王志强的推荐，谢谢参与！"
    ]
    assert await villager.says("TJ王志强帮五保户挑水") == [
        "本轮您已推荐过王志强，每人每轮推荐一次。"
    ]
    # A number is one the bot listed to this sender, never a roster position (12.9).
    assert await phone(MEMBER).says("推荐 3号 带头修路") == [UNLISTED]
    assert await phone(MEMBER).says("推荐 王志强 带头修路") == [
        "已收到您对王志强的推荐，谢谢参与！"
    ]
    assert await stored(county) == [
        ("HX0101", "王志强", "赵大爷", "带头修通了村路，自己垫钱买水泥"),
        ("HX0101", "王志强", "李秀英", "带头修路"),
    ]


async def test_an_ambiguous_name_is_answered_with_a_numbered_list(phone, county: App):
    await add_people(county)
    villager = phone(VILLAGER)
    await villager.says("加入 HX0102")  # 赵大爷 belongs to both villages now
    assert await villager.says("推荐 王芳 照顾孤寡老人") == [
        "有2位“王芳”，请回复数字：1. 王芳（东坡村党支部，党员） 2. 王芳（西岭村党支部，党员）"
    ]
    assert await villager.says("２") == ["已收到您对王芳的推荐，谢谢参与！"]  # full-width digit
    assert await stored(county) == [("HX0102", "王芳", "赵大爷", "照顾孤寡老人")]


async def test_a_reply_that_is_not_a_choice_goes_its_normal_way(phone, county: App):
    await add_people(county)
    villager = phone(VILLAGER)
    await villager.says("加入 HX0102")
    [question] = await villager.says("推荐 王芳 照顾孤寡老人")
    assert question.startswith("有2位“王芳”")
    [reply] = await villager.says("路灯坏了")
    assert reply.startswith("留言已转给")  # a villager's words: a message to the branch
    [reply] = await villager.says("1")  # the question was asked once, and is gone
    assert reply.startswith("没看懂这条。")
    assert await stored(county) == []


async def test_a_misspelt_name_is_confirmed_before_it_counts(phone, county: App):
    villager = phone(VILLAGER)
    assert await villager.says("推荐 王志刚 帮邻居修屋顶") == [
        "没有找到“王志刚”。您是指：1. 王志强（东坡村党支部，党员）？请回复数字。"
    ]
    assert await stored(county) == []
    assert await villager.says("1") == ["已收到您对王志强的推荐，谢谢参与！"]
    assert await stored(county) == [("HX0101", "王志强", "赵大爷", "帮邻居修屋顶")]


async def test_names_outside_the_branch_and_oneself_are_refused(phone, county: App):
    await add_people(county)
    assert await phone(VILLAGER).says("推荐 刘书记 很好") == [
        "本支部没有找到党员“刘书记”。请写：推荐 姓名 理由"
    ]
    assert await phone(MEMBER).says("推荐 李秀英 我很好") == ["不能推荐自己。"]
    assert await phone(VILLAGER).says("推荐 王志强") == ["请写推荐理由，如：推荐 王志强 带头修路"]
    assert await phone(VILLAGER).says("推荐") == [
        "请写：推荐 姓名 理由，如：推荐 王志强 带头修路（拼音TJ）"
    ]
    assert await phone(STRANGER).says("推荐 王志强 好人") == [
        "此操作需要本支部群众或党员身份。回复“帮助”查看您能做的事。"
    ]
    assert await stored(county) == []


async def test_the_secretary_lists_counts_and_reasons_then_shortlists(phone, county: App):
    await phone(VILLAGER).says("推荐 王志强 带头修路")
    await phone(MEMBER).says("推荐 王志强 帮五保户挑水")
    await phone(MEMBER_2).says("推荐 李秀英 调解邻里纠纷")
    secretary = phone(SECRETARY)
    assert await secretary.says("推荐列表") == [
        "东坡村党支部本轮推荐3人次：3号王志强2次，2号李秀英1次。"
        "看理由：推荐列表 编号；入围：入围 编号"
    ]
    assert await secretary.says("TJL 3") == ["3号王志强被推荐2次：带头修路；帮五保户挑水"]
    assert await secretary.says("入围") == [
        "东坡村党支部还没有入围名单。请回复：入围 编号（或姓名）"
    ]
    assert await secretary.says("入围 3 1") == ["张建国本轮没有被推荐，不能入围。"]
    assert await secretary.says("入围 3 李秀英") == [
        "东坡村党支部入围：王志强、李秀英。回复“公示”即公示7天。"
    ]
    assert await secretary.says("RW") == [
        "东坡村党支部入围名单：王志强、李秀英。回复“公示”开始公示。"
    ]


async def test_a_member_cannot_run_the_secretarys_commands(phone, county: App):
    await phone(VILLAGER).says("推荐 王志强 带头修路")
    refused = "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
    assert await phone(MEMBER).says("推荐列表") == [refused]
    assert await phone(MEMBER).says("入围 王志强") == [refused]
    rows = await county.repos.db.fetch("SELECT person_id FROM notice_candidates")
    assert rows == []


async def test_a_secretary_cannot_act_on_another_branch(phone, county: App):
    await add_people(county)
    assert await phone(SECRETARY).says("推荐列表 HX0102") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(SECRETARY).says("入围 HX0102 1") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(WEST_SECRETARY).says("推荐列表") == ["西岭村党支部本轮还没有收到推荐。"]


async def test_a_leader_names_a_branch_of_the_subtree(phone, county: App):
    await add_people(county)
    await phone(VILLAGER).says("推荐 王志强 带头修路")
    leader = phone(LEADER)
    assert await leader.says("推荐列表") == ["青山镇党委不是支部，请在命令后加支部代码。"]
    [listing] = await leader.says("推荐列表 hx0101")
    assert listing.startswith("东坡村党支部本轮推荐1人次：3号王志强1次。")
    assert await leader.says("推荐列表 HX0999") == ["没有找到组织“HX0999”。"]


async def test_english_keywords_answer_in_english(phone, county: App):
    assert await phone(VILLAGER).says("RECOMMEND 王志强 fixed the road") == [
        "Your recommendation of 王志强 is received. Thank you!"
    ]
    assert await phone(SECRETARY).says("RECS") == [
        "东坡村党支部, this round (1 in all): no.3 王志强 x1. "
        "Reasons: RECS number. Shortlist: SHORTLIST number"
    ]
