"""Public notice (公示), objections (异议) and outcomes, read as dialogues; the sweep that
reminds the secretary when a period ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.app import App
from scheduler import notice_jobs
from scheduler.jobs import JobContext
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER
from tests.test_recommendations import LEADER, WANG_FANG_EAST, WEST_SECRETARY, add_people

ZONE = ZoneInfo("Asia/Shanghai")
# Published on Thursday 26 November at 10:00: seven whole days, to the end of 3 December.
NOTICE = (
    "【公示】东坡村党支部拟表彰：王志强、李秀英。公示至12月3日，编号G1。"
    "如有异议请回复：异议 G1 理由"
)
PUBLISHED = "公示G1已发给4人，至12月3日。期满后回复：公示结果 G1 表彰（或撤回、暂缓）理由"
RECEIVED = "您对公示G1的异议已收到并转交。您的身份只告知上级党委，支部书记看不到。谢谢监督！"
NEEDS_SECRETARY_EAST = "在东坡村党支部此操作需要支部书记或上级党委负责人身份。"


async def shortlisted(phone, app: App) -> None:
    await add_people(app)
    await phone(VILLAGER).says("推荐 王志强 带头修路")
    await phone(MEMBER).says("推荐 王志强 帮五保户挑水")
    await phone(MEMBER_2).says("推荐 李秀英 调解邻里纠纷")
    [reply] = await phone(SECRETARY).says("入围 3 2")
    assert reply.startswith("东坡村党支部入围：王志强、李秀英。")


async def sent_to(app: App, number: str) -> list[str]:
    rows = await app.repos.db.fetch(
        "SELECT body FROM outbox WHERE address = :a ORDER BY id", {"a": number}
    )
    return [r["body"] for r in rows]


async def recipients_of(app: App, kind: str) -> set[str]:
    rows = await app.repos.db.fetch(
        "SELECT o.address FROM outbox o JOIN broadcasts b ON b.id = o.broadcast_id "
        "WHERE b.kind = :kind",
        {"kind": kind},
    )
    return {r["address"] for r in rows}


def jobs_of(app: App) -> JobContext:
    return JobContext(app.repos, ZONE, "zh-CN")


async def test_the_shortlist_goes_on_notice_to_the_branch(phone, county: App):
    assert await phone(SECRETARY).says("公示") == [
        "东坡村党支部还没有入围名单。请先回复：入围 编号"
    ]
    await shortlisted(phone, county)
    assert await phone(SECRETARY).says("公示 100") == ["公示天数应为1到60天。"]
    assert await phone(SECRETARY).says("公示") == [PUBLISHED]
    # The branch's public and members; not the publisher, not the other village, not leaders.
    assert await recipients_of(county, "public_notice") == {
        MEMBER,
        MEMBER_2,
        VILLAGER,
        WANG_FANG_EAST,
    }
    assert await sent_to(county, VILLAGER) == [NOTICE]
    # The shortlist went on notice; the next round begins with none.
    assert await phone(SECRETARY).says("入围") == [
        "东坡村党支部还没有入围名单。请回复：入围 编号（或姓名）"
    ]


async def test_publishing_starts_a_new_round_of_recommendations(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    assert await phone(VILLAGER).says("推荐 王志强 又带头清理了河道") == [
        "已收到您对王志强的推荐，谢谢参与！"
    ]
    [listing] = await phone(SECRETARY).says("推荐列表")
    assert listing.startswith("东坡村党支部本轮推荐1人次：3号王志强1次。")


async def test_an_objection_in_the_period_reaches_the_secretary_without_the_objector(
    phone, county: App
):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    county.clock.advance(timedelta(days=2))
    assert await phone(VILLAGER).says("异议 G1 王志强在村里聚众赌博") == [RECEIVED]

    # The secretary hears what was said, not by whom; the leaders above hear both.
    assert await sent_to(county, SECRETARY) == ["【异议】东坡村党支部公示G1：王志强在村里聚众赌博"]
    assert await sent_to(county, LEADER) == [
        "【异议】东坡村党支部公示G1：王志强在村里聚众赌博（提出人：赵大爷 +8613900001101）"
    ]
    assert await sent_to(county, WEST_SECRETARY) == []

    # The secretary's own command shows the objection, never the objector.
    [listed] = await phone(SECRETARY).says("异议列表 G1")
    assert listed == "公示G1共1条异议：1.11月28日：王志强在村里聚众赌博"
    assert await phone(LEADER).says("YYL G1") == [
        "公示G1共1条异议：1.11月28日：王志强在村里聚众赌博（赵大爷 +8613900001101）"
    ]
    # Nothing the secretary received or was shown names the villager or their number.
    for text in [listed, *await sent_to(county, SECRETARY)]:
        assert "赵大爷" not in text and "1101" not in text


async def test_an_objection_after_the_period_is_refused_politely(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    county.clock.set(datetime(2026, 12, 3, 23, 59, tzinfo=ZONE))  # the last minute of it
    assert await phone(MEMBER).says("YY G1 李秀英调解时偏袒亲戚") == [RECEIVED]
    county.clock.set(datetime(2026, 12, 4, 0, 0, tzinfo=ZONE))
    assert await phone(VILLAGER).says("异议 G1 王志强欠钱不还") == [
        "公示G1已于12月3日结束，不再受理异议。如有情况请向上级党委反映，谢谢。"
    ]
    assert await phone(SECRETARY).says("异议列表") == [
        "公示G1共1条异议：1.12月3日：李秀英调解时偏袒亲戚"
    ]
    assert await sent_to(county, SECRETARY) == ["【异议】东坡村党支部公示G1：李秀英调解时偏袒亲戚"]


async def test_an_objection_without_a_code_goes_to_the_notice_running_in_the_branch(
    phone, county: App
):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    assert await phone(VILLAGER).says("异议 王志强修路的钱没公开") == [RECEIVED]
    assert await phone(VILLAGER).says("异议 G1") == ["请写明异议理由：异议 G1 理由"]
    assert await phone(VILLAGER).says("异议 G9 有问题") == ["没有找到公示G9。"]
    assert await phone(VILLAGER).says("OBJECT G1 he never shows up") == [
        "Your objection to notice G1 is received and passed on. Only the Party committee "
        "above the branch learns who you are. Thank you!"
    ]
    assert await county.repos.public_notices.objection_count(1) == 2


async def test_only_the_branchs_people_may_object(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    # Refusals do not tell whether G1 exists (12.9).
    assert await phone(STRANGER).says("异议 G1 不同意") == [
        "此操作需要本支部群众或党员身份。回复“帮助”查看您能做的事。"
    ]
    assert await phone(WEST_SECRETARY).says("异议 G1 不同意") == ["没有找到公示G1。"]
    assert await county.repos.public_notices.objection_count(1) == 0


async def test_the_outcome_is_announced_to_everyone_who_received_the_notice(phone, county: App):
    await shortlisted(phone, county)
    secretary = phone(SECRETARY)
    await secretary.says("公示")
    assert await secretary.says("公示结果 G1 表彰") == ["公示G1至12月3日，期满后再录入结果。"]
    await phone(STRANGER).says("加入 HX0101")  # joined after the notice went out
    county.clock.advance(timedelta(days=8))

    assert await secretary.says("公示结果 G1 3 表彰 群众公认") == [
        "公示G1已记录：王志强。还有1人待定，录完即公布。"
    ]
    assert await secretary.says("公示结果 G1 李秀英 暂缓") == ["撤回或暂缓请写明理由。"]
    assert await secretary.says("公示结果 G1 赵大爷 撤回 无") == ["“赵大爷”不在公示G1名单中。"]
    assert await secretary.says("GSJG G1 李秀英 暂缓 有异议待核实") == ["公示G1结果已发给4人。"]

    assert await recipients_of(county, "notice_outcome") == await recipients_of(
        county, "public_notice"
    )
    assert await sent_to(county, VILLAGER) == [
        NOTICE,
        "【公示结果】东坡村党支部公示G1：王志强：予以表彰（群众公认）；李秀英：暂缓（有异议待核实）",
    ]
    assert await sent_to(county, STRANGER) == []
    assert await secretary.says("公示结果 G1 表彰") == ["公示G1的结果已公布。"]


async def test_one_outcome_for_the_whole_notice(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示 3")
    county.clock.advance(timedelta(days=4))
    assert await phone(SECRETARY).says("公示结果 G1 撤回") == ["撤回或暂缓请写明理由。"]
    assert await phone(SECRETARY).says("公示结果 G1 表彰") == ["公示G1结果已发给4人。"]
    assert (await sent_to(county, MEMBER))[-1] == (
        "【公示结果】东坡村党支部公示G1：王志强：予以表彰；李秀英：予以表彰"
    )


async def test_the_sweep_reminds_the_secretary_once_when_the_period_ends(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示")
    await phone(VILLAGER).says("异议 G1 王志强在村里聚众赌博")
    jobs = jobs_of(county)
    assert await notice_jobs.sweep(jobs, county.clock.now()) == 0  # still running
    county.clock.advance(timedelta(days=8))
    assert await notice_jobs.sweep(jobs, county.clock.now()) == 1
    assert await notice_jobs.sweep(jobs, county.clock.now()) == 0
    assert (await sent_to(county, SECRETARY))[-1] == (
        "【公示期满】东坡村党支部公示G1已于12月3日期满，收到异议1条。"
        "请回复：公示结果 G1 表彰（或撤回、暂缓）理由"
    )


async def test_no_reminder_once_the_outcome_is_recorded(phone, county: App):
    await shortlisted(phone, county)
    await phone(SECRETARY).says("公示 1")
    county.clock.advance(timedelta(days=2))
    await phone(SECRETARY).says("公示结果 G1 表彰")
    assert await notice_jobs.sweep(jobs_of(county), county.clock.now()) == 0


async def test_a_leader_puts_a_branchs_shortlist_on_notice(phone, county: App):
    await shortlisted(phone, county)
    leader = phone(LEADER)
    assert await leader.says("公示 HX0101 5") == [
        "公示G1已发给5人，至12月1日。期满后回复：公示结果 G1 表彰（或撤回、暂缓）理由"
    ]
    assert SECRETARY in await recipients_of(county, "public_notice")
    county.clock.advance(timedelta(days=6))
    # Both the branch's secretary and the leader who published it are reminded.
    assert await notice_jobs.sweep(jobs_of(county), county.clock.now()) == 2
    assert (await sent_to(county, LEADER))[-1].startswith("【公示期满】东坡村党支部公示G1")


async def test_members_and_other_branches_cannot_run_a_notice(phone, county: App):
    await shortlisted(phone, county)
    assert await phone(MEMBER).says("公示") == [
        "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
    ]
    assert await phone(WEST_SECRETARY).says("公示 HX0101") == [NEEDS_SECRETARY_EAST]
    assert await phone(SECRETARY).says("公示") == [PUBLISHED]
    county.clock.advance(timedelta(days=8))
    # A code outside one's reach reads as no notice at all (12.9: refusals reveal nothing).
    assert await phone(MEMBER).says("公示结果 G1 表彰") == [
        "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
    ]
    assert await phone(WEST_SECRETARY).says("公示结果 G1 表彰") == ["没有找到公示G1。"]
    assert await phone(WEST_SECRETARY).says("异议列表 G1") == ["没有找到公示G1。"]
    assert await recipients_of(county, "notice_outcome") == set()
