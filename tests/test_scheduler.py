"""The scheduler's jobs, catch-up after downtime, the lease, and a milestone end to end."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.app import App
from bot.clock import SystemClock
from bot.config import SchedulerSection
from bot.dispatcher import Dispatcher
from bot.messages import Address, AddressKind
from scheduler import jobs
from scheduler.campaign import Campaign, Milestone
from scheduler.service import SchedulerService, last_fire
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, VILLAGER, Phone
from tests.test_dispatcher import FakeChannel, settings

ZONE = ZoneInfo("Asia/Shanghai")
EVERYONE = frozenset({Role.SECRETARY, Role.MEMBER, Role.PUBLIC, Role.LEADER})


def ctx_of(app: App) -> jobs.JobContext:
    return jobs.JobContext(app.repos, ZONE, "zh-CN")


def milestone(
    mid: str, at: datetime, audience=EVERYONE, subtree: str | None = None, urgent: bool = False
) -> Milestone:
    return Milestone(
        mid,
        at,
        frozenset(audience),
        subtree,
        {"zh-CN": f"里程碑{mid}", "en": f"Milestone {mid}"},
        urgent,
    )


def campaign(*milestones: Milestone) -> Campaign:
    return Campaign(
        "test",
        {"zh-CN": "测试", "en": "Test"},
        date(2026, 1, 1),
        "Asia/Shanghai",
        (),
        tuple(milestones),
        "test",
    )


async def outbox(app: App) -> list[tuple[str, str]]:
    rows = await app.repos.db.fetch("SELECT address, body FROM outbox ORDER BY address, id")
    return [(r["address"], r["body"]) for r in rows]


async def test_milestone_reaches_its_audience_once(county: App):
    ctx, now = ctx_of(county), county.clock.now()
    secretaries = milestone("m1", now, audience={Role.SECRETARY, Role.MEMBER}, subtree="HX01")
    assert await jobs.push_milestone(ctx, campaign(secretaries), secretaries, now) == 3
    assert await jobs.push_milestone(ctx, campaign(secretaries), secretaries, now) == 0
    assert await outbox(county) == [
        (SECRETARY, "里程碑m1"),
        (MEMBER, "里程碑m1"),
        (MEMBER_2, "里程碑m1"),
    ]


async def test_milestone_for_a_subtree_leaves_out_other_branches(county: App):
    ctx, now = ctx_of(county), county.clock.now()
    west = milestone("west", now, subtree="HX0102")
    assert await jobs.push_milestone(ctx, campaign(west), west, now) == 0  # nobody there yet


async def test_weekly_reminder_names_the_members_who_have_not_reported(county: App):
    await Phone(county, MEMBER).says("汇报 #服务 看望老人")
    ctx = ctx_of(county)
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=ZONE)
    assert await jobs.weekly_reminder(ctx, friday_evening) == 1
    assert await outbox(county) == [
        (SECRETARY, "【本周汇报提醒】东坡村党支部还有2名党员没有汇报：张建国，王志强。")
    ]
    assert await jobs.weekly_reminder(ctx, friday_evening + timedelta(hours=1)) == 0
    next_friday = friday_evening + timedelta(days=7)
    await jobs.weekly_reminder(ctx, next_friday)
    assert (await outbox(county))[-1] == (
        SECRETARY,
        "【本周汇报提醒】东坡村党支部还有3名党员没有汇报：张建国，李秀英，王志强。",
    )


async def test_weekly_reminder_when_everyone_reported(county: App):
    for number in (SECRETARY, MEMBER, MEMBER_2):
        await Phone(county, number).says("汇报 参加党课")
    await jobs.weekly_reminder(ctx_of(county), county.clock.now())
    assert await outbox(county) == [
        (SECRETARY, "【本周汇报提醒】东坡村党支部全体党员本周都已汇报，谢谢！")
    ]


async def test_a_long_list_of_names_is_cut_to_two_segments(county: App):
    branch = await county.repos.orgs.by_code("HX0101")
    await county.repos.people.import_roster(
        [
            RosterEntry(
                branch.id,
                f"党员{i:02d}号同志",
                Address(AddressKind.SMS, f"+861380000{i:04d}"),
                Role.MEMBER,
            )
            for i in range(40)
        ],
        county.clock.now(),
    )
    await jobs.weekly_reminder(ctx_of(county), county.clock.now())
    [(_, body)] = await outbox(county)
    assert "还有43名党员没有汇报" in body and body.endswith("等。")
    from bot.segments import count_segments

    assert count_segments(body).segments == 2


async def test_daily_nudge_skips_reporters_and_those_who_turned_it_off(county: App):
    await Phone(county, MEMBER).says("汇报 修路")
    assert await Phone(county, MEMBER_2).says("不提醒") == [
        "已关闭每日提醒。回复“提醒”可重新打开。"
    ]
    assert await jobs.daily_nudge(ctx_of(county), county.clock.now()) == 1
    assert await outbox(county) == [
        (SECRETARY, "今天还没有汇报。回复“汇报+内容”记录今天的好事；回复“不提醒”关闭每日提醒。")
    ]


async def test_weekly_digest_for_secretary_and_leader(county: App):
    repos, now = county.repos, county.clock.now()
    county_org = await repos.orgs.by_code("HX")
    await repos.people.import_roster(
        [
            RosterEntry(
                county_org.id, "赵明", Address(AddressKind.SMS, "+8613800000001"), Role.LEADER
            )
        ],
        now,
    )
    await Phone(county, MEMBER).says("汇报 #服务 看望老人")
    await Phone(county, MEMBER).says("汇报 #学习 读报")
    await Phone(county, MEMBER_2).says("汇报 #服务 修路")
    next_monday = datetime(2026, 11, 30, 8, 30, tzinfo=ZONE)
    assert await jobs.weekly_digest(ctx_of(county), next_monday) == 2
    expected = "汇报3条（学习1，服务2），2/3名党员参与。最活跃：李秀英，王志强。"
    assert await outbox(county) == [
        ("+8613800000001", f"【上周汇总】和兴县委：{expected}"),
        (SECRETARY, f"【上周汇总】东坡村党支部：{expected}"),
    ]
    assert await jobs.weekly_digest(ctx_of(county), next_monday) == 0


def test_last_fire():
    friday = datetime(2026, 11, 27, 19, 0, tzinfo=ZONE)
    assert last_fire(friday, 4, datetime.strptime("18:00", "%H:%M").time()) == friday.replace(
        hour=18
    )
    assert last_fire(friday, 4, datetime.strptime("20:00", "%H:%M").time()) == (
        friday.replace(hour=20) - timedelta(days=7)
    )
    assert last_fire(friday, None, datetime.strptime("20:00", "%H:%M").time()) == (
        friday.replace(hour=20) - timedelta(days=1)
    )


def service(app: App, c: Campaign, grace: str = "6h", **kwargs: str) -> SchedulerService:
    section = SchedulerSection(
        grace=grace,
        weekly_reminder=kwargs.get("reminder", ""),
        weekly_digest="",
        daily_nudge=kwargs.get("nudge", ""),
    )
    return SchedulerService(ctx_of(app), c, section, app.clock)


async def test_catch_up_within_grace_once_and_not_beyond(county: App):
    now = county.clock.now()
    recent = milestone("recent", now - timedelta(hours=5), audience={Role.SECRETARY})
    old = milestone("old", now - timedelta(hours=7), audience={Role.SECRETARY})
    ahead = milestone("ahead", now + timedelta(hours=1), audience={Role.SECRETARY})
    s = service(county, campaign(old, recent, ahead))
    assert await s.catch_up() == 1
    assert await outbox(county) == [(SECRETARY, "里程碑recent")]
    assert await service(county, campaign(old, recent, ahead)).catch_up() == 0  # restart again


async def test_catch_up_of_a_missed_weekly_reminder(county: App):
    # Down on Friday at 18:00, back at 20:00: the reminder is two hours late.
    county.clock.set(datetime(2026, 11, 27, 20, 0, tzinfo=ZONE))
    assert await service(county, campaign(), reminder="fri 18:00").catch_up() == 1
    [(to, body)] = await outbox(county)
    assert to == SECRETARY and body.startswith("【本周汇报提醒】")
    assert await service(county, campaign(), reminder="fri 18:00").catch_up() == 0
    # Back only on Saturday at noon, beyond a 6-hour grace: skipped.
    county.clock.set(datetime(2026, 12, 5, 12, 0, tzinfo=ZONE))
    assert await service(county, campaign(), reminder="fri 18:00").catch_up() == 0


async def test_only_one_scheduler_holds_the_lease(county: App):
    first, second = service(county, campaign()), service(county, campaign())
    assert await first.is_leader()
    assert not await second.is_leader()
    assert await first.is_leader()  # renewing
    county.clock.advance(timedelta(seconds=20))
    assert not await second.is_leader()  # the lease (30 s) still runs
    county.clock.advance(timedelta(seconds=11))
    assert await second.is_leader()  # the first stopped renewing: taken over
    assert not await first.is_leader()
    await second.stop()
    assert await first.is_leader()  # released on stop


async def test_a_milestone_due_in_a_moment_reaches_the_recipient(county: App):
    county.clock = SystemClock()  # real timers, real time
    channel = FakeChannel()
    dispatcher = Dispatcher(
        county.repos, {AddressKind.SMS: channel}, county.clock, settings(), ZONE, idle_seconds=0.05
    )
    soon = milestone(
        "soon", county.clock.now() + timedelta(seconds=1), audience={Role.PUBLIC}, urgent=True
    )
    s = SchedulerService(
        jobs.JobContext(county.repos, ZONE, "zh-CN", dispatcher.poke),
        campaign(soon),
        SchedulerSection(weekly_reminder="", weekly_digest=""),
        county.clock,
    )
    stop = asyncio.Event()
    sending = asyncio.create_task(dispatcher.run(stop))
    await s.start()
    try:
        async with asyncio.timeout(10):
            await channel.arrived.wait()
    finally:
        await s.stop()
        stop.set()
        await sending
    assert [(m.to.value, m.body) for m in channel.sent] == [(VILLAGER, "里程碑soon")]


async def test_a_nudge_that_would_arrive_tomorrow_expires_instead(county: App):
    """Queued at 20:00 'no report yet today'; at 21:30 quiet hours would hold it until 08:00
    tomorrow, when it would be wrong: it is cancelled. One still due today goes out."""
    await county.repos.people.set_nudges(
        (await county.repos.people.resolve(Address(AddressKind.SMS, MEMBER_2))).person_id, False
    )
    evening = datetime(2026, 11, 26, 20, 0, tzinfo=ZONE)
    county.clock.set(evening)
    assert await jobs.daily_nudge(ctx_of(county), evening) == 2  # the secretary and MEMBER
    channel = FakeChannel()
    d = Dispatcher(
        county.repos, {AddressKind.SMS: channel}, county.clock, settings(quiet="21:00-08:00"), ZONE
    )
    county.clock.set(evening.replace(hour=21, minute=30))
    await d.drain_once()
    rows = await county.repos.db.fetch("SELECT status, last_error FROM outbox")
    assert channel.sent == []
    assert [(r["status"], r["last_error"]) for r in rows] == [
        ("cancelled", "expired in quiet hours")
    ] * 2


async def test_an_expired_message_is_not_sent_late(county: App):
    evening = datetime(2026, 11, 26, 20, 0, tzinfo=ZONE)
    await jobs.daily_nudge(ctx_of(county), evening)
    channel = FakeChannel()
    d = Dispatcher(county.repos, {AddressKind.SMS: channel}, county.clock, settings(), ZONE)
    county.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=ZONE))  # the service was down
    await d.drain_once()
    assert channel.sent == []
    statuses = {r["status"] for r in await county.repos.db.fetch("SELECT status FROM outbox")}
    assert statuses == {"cancelled"}
