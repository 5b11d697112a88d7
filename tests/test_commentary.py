"""Leaders' commentary (点评) and briefings to the public (通报), read as dialogues."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from bot.channels.console import console_inbound
from bot.messages import Address, AddressKind
from scheduler import jobs
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, STRANGER, VILLAGER

ZONE = ZoneInfo("Asia/Shanghai")
TOWNSHIP_LEADER = "+8613800000001"  # 赵明, 青山镇党委 (above 东坡村 and 西岭村)
OTHER_LEADER = "+8613800000002"  # 钱平, 绿水镇党委 (another township)
WEST_SECRETARY = "+8613800002100"  # 孙书记, 西岭村党支部
WEST_VILLAGER = "+8613900002101"


async def add_people(app: App) -> None:
    now = app.clock.now()
    await app.repos.orgs.upsert_many(
        [
            {"code": "HX02", "name": "绿水镇党委", "kind": "township", "parent_code": "HX"},
            {"code": "HX0201", "name": "南湾村党支部", "kind": "branch", "parent_code": "HX02"},
        ],
        now,
    )
    ids = {code: (await app.repos.orgs.by_code(code)).id for code in ("HX01", "HX02", "HX0102")}
    sms = AddressKind.SMS
    await app.repos.people.import_roster(
        [
            RosterEntry(ids["HX01"], "赵明", Address(sms, TOWNSHIP_LEADER), Role.LEADER),
            RosterEntry(ids["HX02"], "钱平", Address(sms, OTHER_LEADER), Role.LEADER),
            RosterEntry(ids["HX0102"], "孙书记", Address(sms, WEST_SECRETARY), Role.SECRETARY),
            RosterEntry(ids["HX0102"], "周大娘", Address(sms, WEST_VILLAGER), Role.PUBLIC),
        ],
        now,
    )


async def outbox(app: App, prefix: str) -> list[tuple[str, str]]:
    rows = await app.repos.db.fetch(
        "SELECT idempotency_key, address, body FROM outbox ORDER BY address, id"
    )
    return [(r["address"], r["body"]) for r in rows if r["idempotency_key"].startswith(prefix)]


async def test_a_leader_comments_on_a_branch_of_their_subtree(phone, county: App):
    await add_people(county)
    assert await phone(TOWNSHIP_LEADER).says("点评 HX0101 走访群众做得实，继续保持") == [
        "点评已发给东坡村党支部3人（书记和党员），每人1条短信。"
    ]
    signed = "【青山镇党委点评】走访群众做得实，继续保持——赵明"
    assert await outbox(county, "commentary:") == [
        (SECRETARY, signed),
        (MEMBER, signed),
        (MEMBER_2, signed),
    ]  # not the villager, not the other branch
    branch = await county.repos.orgs.by_code("HX0101")
    [stored] = await county.repos.commentary.on(branch.id)
    assert (stored.author, stored.author_org, stored.body, stored.recipients) == (
        "赵明",
        "青山镇党委",
        "走访群众做得实，继续保持",
        3,
    )


async def test_commentary_from_outside_the_subtree_or_from_a_secretary_is_refused(
    phone, county: App
):
    await add_people(county)
    refused = "在东坡村党支部此操作需要上级党委负责人身份。"
    assert await phone(OTHER_LEADER).says("点评 HX0101 做得好") == [refused]
    assert await phone(SECRETARY).says("DP HX0101 做得好") == [refused]
    assert await phone(WEST_SECRETARY).says("点评HX0101做得好") == [refused]
    assert await phone(MEMBER).says("点评 HX0101 做得好") == [refused]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM commentary") == 0
    assert await outbox(county, "") == []


async def test_commentary_needs_a_known_code_and_words(phone, county: App):
    await add_people(county)
    leader = phone(TOWNSHIP_LEADER)
    usage = "请写“点评+组织代码+内容”，如：点评 支部代码 走访群众做得实，继续保持"
    assert await leader.says("点评 南山村 做得好") == [usage]
    assert await leader.says("点评 HX0199 做得好") == [
        "没有找到代码“HX0199”。请写：点评+组织代码+内容"
    ]
    assert await leader.says("点评 HX0101") == [usage]
    assert await leader.says("REMARK HX0102 good work") == [
        "Remarks queued for the secretary and members of 西岭村党支部. Recipients: 1; SMS each: 1."
    ]


async def test_the_next_digest_lists_the_commentary_and_the_commitments(phone, county: App):
    await add_people(county)
    await phone(TOWNSHIP_LEADER).says("点评 HX0101 走访群众做得实")
    await phone(MEMBER).says("承诺 修通村道 到 11-30")
    await phone(MEMBER_2).says("承诺 帮扶两户 到 11-28")
    await phone(MEMBER_2).says("完成 C2")
    await phone(SECRETARY).says("承诺 支部 办好夜校 到 11-27")
    ctx = jobs.JobContext(county.repos, ZONE, "zh-CN")
    monday = datetime(2026, 11, 30, 8, 30, tzinfo=ZONE)
    await jobs.weekly_digest(ctx, monday)
    digests = dict(await outbox(county, "digest:"))
    assert digests[SECRETARY] == (  # the roster came on Thursday: nobody is reproached
        "【上周汇总】东坡村党支部：系统刚启用，上周尚无汇报，本周起按周统计。"
        "承诺：本周到期1项，上周完成1项，逾期1项（C3）。收到点评1条（赵明）。"
    )
    assert digests[TOWNSHIP_LEADER].endswith("收到点评1条（赵明）。")
    assert WEST_SECRETARY not in digests  # no members on its roster, nothing else to say
    # The week after: nothing new to show, so neither line.
    await jobs.weekly_digest(ctx, datetime(2026, 12, 7, 8, 30, tzinfo=ZONE))
    rows = await county.repos.db.fetch(
        "SELECT body FROM outbox WHERE idempotency_key LIKE 'digest:2026-W49:secretary:%' "
        "AND address = :a",
        {"a": SECRETARY},
    )
    assert [r["body"] for r in rows] == [
        "【上周汇总】东坡村党支部：上周没有汇报，3名党员待动员。"
        "承诺：本周到期0项，上周完成0项，逾期2项（C3，C1）。"
    ]


async def test_a_secretary_briefs_the_branchs_public(phone, county: App):
    await add_people(county)
    assert await phone(SECRETARY).says("通报 本月全村走访困难户32户") == [
        "通报已排队：发给1位群众，每人1条短信。编号1。"
    ]
    assert await outbox(county, "briefing:") == [
        (VILLAGER, "【东坡村党支部通报】本月全村走访困难户32户")
    ]
    row = await county.repos.db.fetchrow("SELECT body, subtree, recipients FROM briefings")
    assert (row["body"], bool(row["subtree"]), row["recipients"]) == (
        "本月全村走访困难户32户",
        False,
        1,
    )


async def test_a_leaders_briefing_reaches_the_public_of_the_subtree(phone, county: App):
    await add_people(county)
    await phone(STRANGER).says("加入 HX0201")  # a villager of the other township
    assert await phone(TOWNSHIP_LEADER).says("通报 全镇本月新修村道5公里") == [
        "通报已排队：发给2位群众，每人1条短信。编号1。"
    ]
    assert await outbox(county, "briefing:") == [
        (VILLAGER, "【青山镇党委通报】全镇本月新修村道5公里"),
        (WEST_VILLAGER, "【青山镇党委通报】全镇本月新修村道5公里"),
    ]
    assert (await phone(TOWNSHIP_LEADER).says_one("通报 HX0102 西岭村路灯已修好")).startswith(
        "通报已排队：发给1位群众"
    )
    assert (await outbox(county, "briefing:2"))[0] == (
        WEST_VILLAGER,
        "【西岭村党支部通报】西岭村路灯已修好",
    )


async def test_briefings_are_refused_to_members_and_to_other_branches(phone, county: App):
    await add_people(county)
    assert await phone(MEMBER).says("通报 今天修路") == [
        "此操作需要支部书记或上级党委负责人身份。回复“帮助”查看您能做的事。"
    ]
    assert await phone(SECRETARY).says("通报 HX0102 今天修路") == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(OTHER_LEADER).says("通报 HX0101 今天修路") == [
        "在东坡村党支部此操作需要支部书记或上级党委负责人身份。"
    ]
    assert await phone(SECRETARY).says("通报 HX0199 今天修路") == ["没有找到代码“HX0199”。"]
    assert await phone(SECRETARY).says("通报") == [
        "请在“通报”后写内容，如：通报 本月全村走访困难户32户"
    ]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM briefings") == 0
    assert await outbox(county, "") == []


async def test_a_report_that_begins_with_the_word_is_a_report(phone, county: App):
    assert (await phone(SECRETARY).says_one("通报了村里的脱贫情况")).startswith("已记录")
    assert (await phone(MEMBER).says_one("点评了党课")).startswith("已记录")
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM briefings") == 0


async def test_an_english_briefing(phone, county: App):
    assert await phone(SECRETARY).says("BRIEF the road to town reopens on Monday") == [
        "Briefing queued. Villagers reached: 1; SMS each: 1; id 1."
    ]
    assert await outbox(county, "briefing:") == [
        (VILLAGER, "【东坡村党支部通报】the road to town reopens on Monday")
    ]


async def test_a_briefing_handled_again_after_a_crash_is_sent_once(county: App, phone):
    inbound = console_inbound(phone(SECRETARY).address, "通报 周五停水", county.clock)
    recorded = await county.repos.inbound.record(inbound)
    await county.router._process(recorded.id, inbound)
    await county.repos.db.write(
        "UPDATE inbound_messages SET status = 'received' WHERE id = :id", {"id": recorded.id}
    )
    assert await county.router.recover() == 1
    assert await outbox(county, "briefing:") == [(VILLAGER, "【东坡村党支部通报】周五停水")]
    assert await county.repos.db.fetchval("SELECT COUNT(*) FROM briefings") == 1
