"""A populated demo county for the web tests: the shipped demo roster, twelve weeks of deeds,
commitments, a closed poll with enough answers to show, a public notice and commentary, all
made through the router as people would text them (so the pages read what the bot stores).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from importlib import resources

from bot.app import App
from bot.clock import FixedClock
from bot.messages import Address, AddressKind, Channel, Inbound
from bot.roster import import_orgs, import_people
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps

# Members of the demo county by branch (bot/demo/people.csv), and its villagers.
SECRETARY_HX0101 = "+8613800001100"
MEMBERS_HX0101 = ["+8613800001101", "+8613800001102", "+8613800001103", "+8613800001104"]
MEMBERS_HX0102 = ["+8613800002101", "+8613800002102", "+8613800002103"]
MEMBERS_HX0201 = ["+8613800003101", "+8613800003102"]
VILLAGERS_HX0101 = [f"+86139000011{n:02d}" for n in range(1, 11)]
LEADER_HX01 = "+8613800000002"
LEADER_HX = "+8613800000001"
# Names the public pages must never show (villagers) and phones they must never show.
VILLAGER_NAMES = ["赵大爷", "钱阿姨", "孙桂芳", "李德明", "王秀兰", "周长林", "吴玉珍", "郑宝山"]

DEEDS = [
    "#服务 帮五保户王大妈修好了屋顶",
    "#学习 参加党课学习新党章",
    "走访困难户3户，送去米面油",
    "#佳绩 组织合作社卖出土豆两吨",
    "#正气 劝解邻里纠纷一起",
]


async def says(app: App, phone: str, body: str) -> list[str]:
    inbound = Inbound(
        Channel.SMS,
        uuid.uuid4().hex,
        Address(AddressKind.SMS, phone),
        body,
        app.clock.now(),
    )
    return [reply.body for reply in await app.router.handle(inbound)]


async def load_demo(app: App) -> None:
    now = app.clock.now()
    data = resources.files("bot") / "demo"
    with resources.as_file(data / "orgs.csv") as orgs_csv:
        await import_orgs(app.repos, orgs_csv, now)
    with resources.as_file(data / "people.csv") as people_csv:
        await import_people(app.repos, people_csv, now)


async def populated_demo(app: App, clock: FixedClock) -> None:
    """Twelve weeks of campaign in the demo county, ending at the clock's present."""
    await load_demo(app)
    end = clock.now()
    sweep = JobContext(app.repos, app.config.zone, app.config.bot.language, lambda: None)
    for week in range(11, -1, -1):
        clock.set(end - timedelta(weeks=week, hours=1))
        # Participation grows over the weeks; 东坡村 more than 西岭村, 青山镇 more than 红旗镇.
        for index, phone in enumerate(MEMBERS_HX0101):
            if (week + index) % 3 != 0 or week < 3:
                await says(app, phone, DEEDS[(week + index) % len(DEEDS)] + f"（第{12 - week}周）")
        for index, phone in enumerate(MEMBERS_HX0102):
            if week < 6 and (week + index) % 2 == 0:
                await says(app, phone, DEEDS[(week * 2 + index) % len(DEEDS)] + f"（{week}）")
        if week in (9, 4):
            await says(app, MEMBERS_HX0201[0], DEEDS[week % len(DEEDS)])
    clock.set(end - timedelta(days=10))
    await says(app, MEMBERS_HX0101[0], "承诺 修好村口路灯 到 下周五")
    await says(app, MEMBERS_HX0101[1], "承诺 每周走访五保户 到 年底")
    # A poll the villagers answer, closed ten days later with twelve answers.
    await says(app, SECRETARY_HX0101, "评议 村里路灯修得满意吗/满意/基本满意/不满意")
    await says(app, SECRETARY_HX0101, "确认")
    await run_sweeps(sweep, clock.now())
    for index, phone in enumerate(VILLAGERS_HX0101):
        await says(app, phone, str(1 + index % 3 if index < 7 else 1))
    for phone in MEMBERS_HX0101[2:]:
        await says(app, phone, "1")
    clock.set(end - timedelta(hours=2))
    await run_sweeps(sweep, clock.now())
    clock.set(end)
