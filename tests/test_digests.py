"""Issue 11.14: digests name the inactive branches, reproach nobody for the weeks before the
deployment, and leave branches without members alone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from bot.messages import Address, AddressKind
from bot.segments import count_segments
from scheduler import jobs
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, Phone
from tests.test_branch_report import COUNTY_LEADER, WEST_SECRETARY, add_people

ZONE = ZoneInfo("Asia/Shanghai")
FIRST_MONDAY = datetime(2026, 11, 30, 8, 30, tzinfo=ZONE)  # the roster came on Thursday 26th
NEXT_MONDAY = datetime(2026, 12, 7, 8, 30, tzinfo=ZONE)
EMPTY_LEADER = "+8613800000003"  # 孙伟, 绿水镇党委: no branch below has members yet


def ctx_of(app: App) -> jobs.JobContext:
    return jobs.JobContext(app.repos, ZONE, "zh-CN")


async def digests(app: App, week: str) -> dict[str, str]:
    rows = await app.repos.db.fetch(
        "SELECT address, body FROM outbox WHERE idempotency_key LIKE :k ORDER BY id",
        {"k": f"digest:{week}:%"},
    )
    return {r["address"]: r["body"] for r in rows}


async def test_the_first_digest_reproaches_nobody_for_the_week_before(county: App):
    await add_people(county)
    await jobs.weekly_digest(ctx_of(county), FIRST_MONDAY)
    sent = await digests(county, "2026-W48")
    assert sent[SECRETARY] == "【上周汇总】东坡村党支部：系统刚启用，上周尚无汇报，本周起按周统计。"
    assert (
        sent[WEST_SECRETARY]
        == "【上周汇总】西岭村党支部：系统刚启用，上周尚无汇报，本周起按周统计。"
    )
    assert sent[COUNTY_LEADER] == "【上周汇总】和兴县委：系统刚启用，上周尚无汇报，本周起按周统计。"
    assert not any("待动员" in body or "上周无汇报" in body for body in sent.values())


async def test_a_first_week_with_reports_names_no_inactive_branch(county: App):
    await add_people(county)
    await Phone(county, MEMBER).says("汇报 修路")
    await jobs.weekly_digest(ctx_of(county), FIRST_MONDAY)
    sent = await digests(county, "2026-W48")
    assert sent[COUNTY_LEADER] == (
        "【上周汇总】和兴县委：汇报1条（未分类1），1/6名党员参与。最活跃：李秀英。"
    )


async def test_the_county_leader_hears_which_branches_were_inactive(county: App):
    await add_people(county)
    county.clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=ZONE))  # the first full week
    await Phone(county, MEMBER).says("汇报 #服务 看望老人")
    await Phone(county, MEMBER_2).says("汇报 修路")
    await jobs.weekly_digest(ctx_of(county), NEXT_MONDAY)
    sent = await digests(county, "2026-W49")
    assert sent[COUNTY_LEADER] == (
        "【上周汇总】和兴县委：汇报2条（服务1，未分类1），2/6名党员参与。最活跃：李秀英，王志强。"
        "上周无汇报1个：西岭村党支部。"
    )
    assert sent[WEST_SECRETARY] == "【上周汇总】西岭村党支部：上周没有汇报，3名党员待动员。"
    assert "上周无汇报" not in sent[SECRETARY]  # a secretary's digest is about their branch


async def test_many_inactive_branches_are_named_first_and_counted(county: App):
    now = county.clock.now()
    await county.repos.orgs.upsert_many(
        [
            {
                "code": f"HX01{n:02d}",
                "name": f"第{n}村党支部",
                "kind": "branch",
                "parent_code": "HX01",
            }
            for n in range(3, 43)
        ],
        now,
    )
    await add_people(county)
    entries = []
    for n in range(3, 43):
        org = await county.repos.orgs.by_code(f"HX01{n:02d}")
        number = f"+86138100{n:05d}"
        entries.append(
            RosterEntry(org.id, f"党员{n}", Address(AddressKind.SMS, number), Role.MEMBER)
        )
    await county.repos.people.import_roster(entries, now)
    county.clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=ZONE))
    await Phone(county, MEMBER).says("汇报 修路")
    await jobs.weekly_digest(ctx_of(county), NEXT_MONDAY)
    body = (await digests(county, "2026-W49"))[COUNTY_LEADER]
    assert "上周无汇报41个：西岭村党支部，第3村党支部，第4村党支部，" in body
    assert body.endswith("等。")
    assert count_segments(body).segments == 2


async def test_a_branch_with_no_members_gets_no_reminder_and_no_digest(county: App):
    now = county.clock.now()
    await county.repos.orgs.upsert_many(
        [{"code": "HX02", "name": "绿水镇党委", "kind": "township", "parent_code": "HX"}], now
    )
    west = await county.repos.orgs.by_code("HX0102")
    empty = await county.repos.orgs.by_code("HX02")
    await county.repos.people.import_roster(
        [
            RosterEntry(
                west.id, "周海燕", Address(AddressKind.SMS, WEST_SECRETARY), Role.SECRETARY
            ),
            RosterEntry(empty.id, "孙伟", Address(AddressKind.SMS, EMPTY_LEADER), Role.LEADER),
        ],
        now,
    )
    ctx = ctx_of(county)
    assert await jobs.weekly_reminder(ctx, datetime(2026, 11, 27, 18, 0, tzinfo=ZONE)) == 1
    await jobs.weekly_digest(ctx, NEXT_MONDAY)
    rows = await county.repos.db.fetch("SELECT address, body FROM outbox")
    assert {r["address"] for r in rows} == {SECRETARY}  # not 西岭村, not the empty township
    assert not any("0/0" in r["body"] or "0名党员" in r["body"] for r in rows)
