"""Public notice as people use it (issue 11, point 10): commending despite objections is
confirmed knowingly; a leader names a branch by code or by name; a leader who may see an
objector gets a number to call, and a secretary never sees one."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from tests.conftest import MEMBER, SECRETARY, VILLAGER
from tests.test_public_notices import recipients_of, sent_to, shortlisted
from tests.test_recommendations import LEADER

TWO_OBJECTIONS = "公示G1收到异议2条（异议列表 G1可查看），仍要表彰？回复“确认”录入，“取消”放弃。"


async def noticed_with_objections(phone, county: App) -> None:
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    await phone(VILLAGER).says("异议 G1 王志强在村里聚众赌博")
    await phone(MEMBER).says("异议 G1 修路的账没公开")
    county.clock.advance(timedelta(days=8))  # the period has ended


async def test_commending_despite_objections_says_how_many_and_waits_for_confirmation(
    phone, county: App
):
    await noticed_with_objections(phone, county)
    secretary = phone(SECRETARY)
    assert await secretary.says("公示结果 G1 表彰") == [TWO_OBJECTIONS]
    assert await recipients_of(county, "notice_outcome") == set()  # nothing announced yet
    assert await secretary.says("确认") == ["公示G1结果已发给4人。"]
    assert (await sent_to(county, VILLAGER))[-1] == (
        "【公示结果】东坡村党支部公示G1：王志强：予以表彰；李秀英：予以表彰"
    )


async def test_a_commendation_held_back_by_objections_can_be_dropped(phone, county: App):
    await noticed_with_objections(phone, county)
    secretary = phone(SECRETARY)
    assert await secretary.says("公示结果 G1 王志强 表彰") == [TWO_OBJECTIONS]
    assert await secretary.says("取消") == ["公示G1的表彰未录入。"]
    # Withdrawing because of the objections needs no confirmation.
    assert await secretary.says("公示结果 G1 王志强 撤回 群众有异议") == [
        "公示G1已记录：王志强。还有1人待定，录完即公布。"
    ]
    assert await secretary.says("公示结果 G1 李秀英 表彰") == [TWO_OBJECTIONS]
    assert await secretary.says("确认") == ["公示G1结果已发给4人。"]


async def test_without_objections_a_commendation_is_recorded_at_once(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示 3")
    county.clock.advance(timedelta(days=4))
    assert await phone(SECRETARY).says("公示结果 G1 表彰") == ["公示G1结果已发给4人。"]


async def test_a_leader_lists_a_branchs_objections_by_its_code_or_name(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    await phone(VILLAGER).says("异议 G1 王志强在村里聚众赌博")
    leader = phone(LEADER)
    # Only the leader above sees who objected, with a number to call back.
    listed = "公示G1共1条异议：1.11月26日：王志强在村里聚众赌博（赵大爷 +8613900001101）"
    assert await leader.says("异议列表 HX0101") == [listed]
    assert await leader.says("异议列表 东坡村") == [listed]
    assert await leader.says("YYL 东坡村党支部") == [listed]
    assert await leader.says("异议列表 HX0999") == ["没有找到组织“HX0999”。"]
    assert await leader.says("异议列表 HX0102") == ["西岭村党支部还没有公示。"]
    assert await sent_to(county, LEADER) == [
        "【异议】东坡村党支部公示G1：王志强在村里聚众赌博（提出人：赵大爷 +8613900001101）"
    ]
    # The secretary never sees who objected, whatever they ask.
    for asked in ("异议列表", "异议列表 HX0101", "异议列表 G1"):
        [reply] = await phone(SECRETARY).says(asked)
        assert reply == "公示G1共1条异议：1.11月26日：王志强在村里聚众赌博"
    for text in await sent_to(county, SECRETARY):
        assert "赵大爷" not in text and "1101" not in text


async def test_a_leader_lists_recommendations_of_a_branch_named_by_code_or_name(phone, county: App):
    await shortlisted(phone, county)
    leader = phone(LEADER)
    for asked in ("推荐列表 HX0101", "推荐列表 东坡村", "TJL 东坡村党支部", "推荐列表HX0101"):
        [listing] = await leader.says(asked)
        assert listing.startswith("东坡村党支部本轮推荐3人次："), (asked, listing)
    assert await leader.says("推荐列表 西岭村") == ["西岭村党支部本轮还没有收到推荐。"]


async def test_a_leader_comments_on_a_branch_named_by_its_name(phone, county: App):
    await shortlisted(phone, county)
    leader = phone(LEADER)
    sent = "点评已发给东坡村党支部4人（书记和党员），每人1条短信。"
    assert await leader.says("点评 东坡村 走访群众做得实") == [sent]
    assert await leader.says("点评 东坡村党支部：修路带头作用好") == [sent]
    assert await leader.says("点评 东坡村党支部账目公开及时") == [sent]
    signed = await sent_to(county, MEMBER)
    assert "【青山镇党委点评】走访群众做得实——孙镇长" in signed
    assert "【青山镇党委点评】修路带头作用好——孙镇长" in signed
    assert "【青山镇党委点评】账目公开及时——孙镇长" in signed
    assert await leader.says("点评 南山村 做得好") == [
        "请写“点评+组织代码+内容”，如：点评 支部代码 走访群众做得实，继续保持"
    ]


async def test_an_objection_from_telegram_still_gives_the_leader_a_number(phone, county: App):
    from bot.messages import Address, AddressKind
    from tests.test_polls import over_telegram

    chat = "555000111"
    await county.repos.people.link(
        Address(AddressKind.TELEGRAM, chat), Address(AddressKind.SMS, VILLAGER), county.clock.now()
    )
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    [received] = await over_telegram(county, chat, "异议 G1 王志强修路的账没公开")
    assert received.startswith("您对公示G1的异议已收到")
    assert (await sent_to(county, LEADER))[-1].endswith("（提出人：赵大爷 +8613900001101）")
    [listed] = await phone(LEADER).says("异议列表 东坡村")
    assert listed.endswith("（赵大爷 +8613900001101）")
    assert chat not in listed
