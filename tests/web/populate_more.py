"""More of the demo county's campaign for the public pages, on top of tests/web/populate.py,
made through the router as people would text it: a notice on display in 东坡村 with a
villager's objection, a notice in 西岭村 decided and announced, villagers' comments, a
leader's commentary and briefings, a featured deed, a commitment done and one overdue, an
open poll with a few answers, and a closed poll with too few answers to break down.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from importlib import resources

from bot.app import App
from bot.clock import FixedClock
from bot.messages import Address, AddressKind
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps
from tests.web.populate import (
    LEADER_HX01,
    MEMBERS_HX0101,
    MEMBERS_HX0102,
    SECRETARY_HX0101,
    VILLAGERS_HX0101,
    populated_demo,
    says,
)

SECRETARY_HX0102 = "+8613800002100"
VILLAGERS_HX0102 = [f"+86139000021{n:02d}" for n in range(1, 11)]
OBJECTION = "王志强修路的账没有公开"
COMMENTS = ["村口路灯亮了，晚上出门方便", "希望多组织义诊", "水渠该清淤了", "感谢党员帮忙", "好"]
COMMENTARY = "走访困难户做得实，继续保持"
BRIEFING_TOWNSHIP = "全镇本月新修村道5公里"
BRIEFING_BRANCH = "本月全村走访困难户32户"
OPEN_QUESTION = "村里的垃圾清运及时吗"
HIDDEN_QUESTION = "西岭村的路灯修得好吗"


def demo_people(role: str | None = None) -> list[tuple[str, str, str, str]]:
    """The demo roster's rows (org code, name, phone, role), of one role if given."""
    with resources.as_file(resources.files("bot") / "demo" / "people.csv") as path:
        with path.open(encoding="utf-8") as handle:
            rows = [tuple(r) for r in csv.reader(handle)][1:]
    return [r for r in rows if role is None or r[3] == role]  # type: ignore[misc]


async def feature_latest(app: App, member: str) -> None:
    """The secretary of 东坡村 features the member's latest deed (推优 <deed number>)."""
    record = await app.repos.people.resolve(Address(AddressKind.SMS, member))
    deed = await app.repos.db.fetchval(
        "SELECT MAX(id) FROM deeds WHERE person_id = :p", {"p": record.person_id}
    )
    await says(app, SECRETARY_HX0101, f"推优 {deed}")


async def more_demo(app: App, clock: FixedClock) -> None:
    """populated_demo, then the activity above, ending at the clock's present."""
    await populated_demo(app, clock)
    end = clock.now()
    sweep = JobContext(app.repos, app.config.zone, app.config.bot.language, lambda: None)

    async def at(moment: timedelta) -> None:
        clock.set(end - moment)
        await run_sweeps(sweep, clock.now())

    # 西岭村: a commitment made three weeks ago, due long since (overdue now); a notice
    # decided and announced; a poll closed with three answers (too few to break down).
    await at(timedelta(days=21))
    await says(app, MEMBERS_HX0102[0], "承诺 清理村后水渠 到 下周五")
    await says(app, VILLAGERS_HX0102[0], "推荐 吴建华 带头清理水渠")
    await says(app, VILLAGERS_HX0102[1], "推荐 郑丽 照顾孤寡老人")
    await says(app, SECRETARY_HX0102, "入围 吴建华 郑丽")
    await says(app, SECRETARY_HX0102, "公示 5")
    await says(app, VILLAGERS_HX0102[2], "异议 G1 郑丽照顾的是自家亲戚")
    await says(app, SECRETARY_HX0102, f"评议 {HIDDEN_QUESTION}/好/一般/不好")
    await says(app, SECRETARY_HX0102, "确认")
    await at(timedelta(days=20))
    for phone in VILLAGERS_HX0102[:3]:
        await says(app, phone, "1")
    await at(timedelta(days=12))
    await says(app, SECRETARY_HX0102, "公示结果 G1 表彰")
    await says(app, SECRETARY_HX0102, "确认")

    # 东坡村, this week: a commitment done, a notice on display with an objection, comments,
    # commentary and briefings, an open poll with a few answers.
    await at(timedelta(days=2))
    await says(app, MEMBERS_HX0101[0], "完成 C1")
    await says(app, VILLAGERS_HX0101[0], "推荐 王志强 带头修路")
    await says(app, VILLAGERS_HX0101[1], "推荐 李秀英 调解邻里纠纷")
    await says(app, SECRETARY_HX0101, "入围 王志强 李秀英")
    await says(app, SECRETARY_HX0101, "公示")
    await says(app, VILLAGERS_HX0101[2], f"异议 G2 {OBJECTION}")
    for phone, text in zip(VILLAGERS_HX0101[3:], COMMENTS, strict=False):
        await says(app, phone, f"评论 {text}")
    await says(app, LEADER_HX01, f"点评 HX0101 {COMMENTARY}")
    await says(app, LEADER_HX01, f"通报 {BRIEFING_TOWNSHIP}")
    await says(app, SECRETARY_HX0101, f"通报 {BRIEFING_BRANCH}")
    await feature_latest(app, MEMBERS_HX0101[1])
    await says(app, SECRETARY_HX0101, f"评议 {OPEN_QUESTION}/及时/不及时")
    await says(app, SECRETARY_HX0101, "确认")
    await at(timedelta(days=1))
    for phone in VILLAGERS_HX0101[:4]:
        await says(app, phone, "2")
    await at(timedelta(0))
