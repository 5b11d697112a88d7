"""The console's overview (/console/o/<code>): who may see which organisation, the asleep
branches first with their reasons, figures equal to the bot's 本周 reply, open polls
showing turnout only, and the page on a phone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.channel_status import seconds_to_finish
from bot.clock import week_start
from bot.config import load_config
from bot.messages import Address, AddressKind
from bot.roster import import_people
from bot.web.console.access import COOKIE
from bot.web.console.overview import FRESH
from bot.web.console.ranking import TURNOUT_FLOOR, Reason, rank, reasons_for
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps
from storage.console_overview import LastPoll
from storage.outbox import Waiting
from tests.conftest import KEY_ENV
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.populate import (
    LEADER_HX,
    LEADER_HX01,
    MEMBERS_HX0101,
    SECRETARY_HX0101,
    VILLAGERS_HX0101,
    says,
)

TODAY = date(2026, 3, 18)  # a Wednesday

# --- the ranking, a pure function --------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    org_id: int
    code: str
    members: int = 10
    weekly: tuple[int, ...] = (5, 5)
    last_report: date | None = TODAY
    commitments_overdue: int = 0


def test_a_branch_silent_for_two_weeks_is_asleep_and_one_silent_for_thirteen_days_is_not() -> None:
    silent = Unit(1, "A", weekly=(0, 0), last_report=TODAY - timedelta(days=14))
    quiet = Unit(2, "B", weekly=(0, 0), last_report=TODAY - timedelta(days=13))
    assert reasons_for(silent, None, TODAY) == (Reason.SILENT,)
    assert reasons_for(quiet, None, TODAY) == ()
    assert reasons_for(Unit(3, "C", last_report=None), None, TODAY) == (Reason.SILENT,)


def test_low_turnout_and_overdue_commitments_are_reasons_too() -> None:
    low = LastPoll(7, answered=2, asked=10)
    enough = LastPoll(8, answered=3, asked=10)
    assert low.turnout < TURNOUT_FLOOR <= enough.turnout
    assert reasons_for(Unit(1, "A"), low, TODAY) == (Reason.TURNOUT,)
    assert reasons_for(Unit(1, "A"), enough, TODAY) == ()
    assert reasons_for(Unit(1, "A", commitments_overdue=2), None, TODAY) == (Reason.OVERDUE,)
    # A poll nobody was asked says nothing about the branch.
    assert reasons_for(Unit(1, "A"), LastPoll(9, 0, 0), TODAY) == ()


def test_asleep_branches_come_first_silent_longest_first_then_the_least_active() -> None:
    units = [
        Unit(1, "BUSY", weekly=(9, 10)),
        Unit(2, "SLACK", weekly=(5, 1)),
        Unit(3, "OVERDUE", commitments_overdue=1),
        Unit(4, "SILENT", weekly=(0, 0), last_report=TODAY - timedelta(days=20)),
        Unit(5, "NEVER", weekly=(0, 0), last_report=None),
        Unit(6, "EMPTY", members=0, weekly=(0, 0), last_report=None),  # no roster: not ranked
        Unit(7, "LOWPOLL"),
    ]
    ranked = rank(units, {7: LastPoll(70, 1, 10)}, TODAY)
    assert [r.unit.code for r in ranked] == [
        "NEVER",
        "SILENT",
        "LOWPOLL",
        "OVERDUE",
        "SLACK",
        "BUSY",
    ]
    assert [r.asleep for r in ranked] == [True, True, True, True, False, False]


def test_the_time_to_finish_is_the_slowest_channel_it_can_send(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[twilio]\naccount_sid = "AC{"1" * 32}"\nfrom_number = "+8610690000"\n'
        'public_url = "https://x.example.org"\n[outbox.rate]\nsms = 5\n'
    )
    config = load_config(path, env={**KEY_ENV, "TWILIO_AUTH_TOKEN": "x"})
    waiting = {"sms": Waiting(100, None), "telegram": Waiting(1_000, None)}
    # Telegram is not configured here: those wait for another process, and are not timed.
    assert seconds_to_finish(waiting, config) == 20.0
    assert seconds_to_finish({}, config) == 0.0


# --- the page ------------------------------------------------------------------------------


async def _page(client: httpx.AsyncClient, code: str, json: bool = False) -> httpx.Response:
    suffix = ".json" if json else ""
    return await client.get(f"/console/o/{code}{suffix}", headers={"accept": "text/html"})


async def _not_found_like_unknown(client: httpx.AsyncClient, code: str) -> None:
    hidden, unknown = await _page(client, code), await _page(client, "NOSUCH9")
    assert hidden.status_code == unknown.status_code == 404
    # The same page but for the path in its language link.
    assert hidden.text.replace(f"/console/o/{code}?", "/console/o/NOSUCH9?") == unknown.text
    hidden_json, unknown_json = (
        await _page(client, code, True),
        await _page(client, "NOSUCH9", True),
    )
    assert hidden_json.status_code == 404 and hidden_json.json() == unknown_json.json()


async def test_a_secretary_sees_their_branch_and_no_other(demo_site: Site) -> None:
    client = await demo_site.signed_in(SECRETARY_HX0101)
    own = await _page(client, "HX0101")
    assert own.status_code == 200 and "东坡村党支部" in own.text
    # Not the youth league branch under it: the bot's 本周 does not show it to them either.
    listed = (await _page(client, "HX0101", json=True)).json()["units"]["rows"]
    assert [u["code"] for u in listed] == ["HX0101"]
    assert own.headers["cache-control"] == "no-store"
    twin = await _page(client, "HX0101", json=True)
    assert twin.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in twin.headers  # the console is no open data
    for other in ("HX0102", "HX0101T", "HX01", "HX", "hx0102"):
        await _not_found_like_unknown(client, other)


async def test_a_leader_sees_their_subtree_and_not_a_sibling_township(demo_site: Site) -> None:
    client = await demo_site.signed_in(LEADER_HX01)
    for code in ("HX01", "HX0101", "HX0102", "hx0101"):
        assert (await _page(client, code)).status_code == 200, code
    for code in ("HX02", "HX0201", "HX"):
        await _not_found_like_unknown(client, code)
    township = (await _page(client, "HX01", json=True)).json()
    # The youth league branch under 东坡村 is below the leader too.
    assert {u["code"] for u in township["units"]["rows"]} == {"HX0101", "HX0101T", "HX0102"}


async def test_an_admin_sees_everything(demo_site: Site, tmp_path: Path) -> None:
    roster = tmp_path / "admin.csv"
    roster.write_text("组织代码,姓名,手机,角色\nHX0202,管理员,13800009999,admin\n")
    await import_people(demo_site.app.repos, roster, demo_site.clock.now())
    client = await demo_site.signed_in("+8613800009999")
    for code in ("HX", "HX01", "HX0102", "HX02", "HX0201", "HX0101T"):
        assert (await _page(client, code)).status_code == 200, code


async def test_no_session_is_sent_to_sign_in(demo_site: Site) -> None:
    async with httpx.AsyncClient(base_url=demo_site.url) as anonymous:
        answer = await anonymous.get("/console/o/HX")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/o/HX"


async def test_the_county_ranks_a_sleeping_branch_first_with_its_reason(demo_site: Site) -> None:
    client = await demo_site.signed_in(LEADER_HX)
    data = (await _page(client, "HX", json=True)).json()
    rows = data["units"]["rows"]
    by_code = {r["code"]: r for r in rows}
    # 北岗社区 and the youth league never reported, 南湾村 last four weeks ago: asleep, the
    # longest silent first, before every active branch.
    assert [r["code"] for r in rows[:3]] == ["HX0101T", "HX0202", "HX0201"]
    assert [r["key"] for r in by_code["HX0202"]["reasons"]] == ["silent"]
    assert by_code["HX0202"]["reasons"][0]["text"] == "从未汇报"
    assert by_code["HX0201"]["reasons"][0]["text"].startswith("两周无汇报")
    assert by_code["HX0101"]["reasons"] == [] and by_code["HX0101"]["this_week"] > 0
    assert data["units"]["asleep"] == sum(1 for r in rows if r["reasons"])
    assert rows[0]["link"] == f"/console/o/{rows[0]['code']}/branch"
    html = (await _page(client, "HX")).text
    # The asleep list comes before the week's figures, each branch with its reason.
    assert html.index("北岗社区党支部") < html.index("本周汇报")
    assert "从未汇报" in html and 'href="/console/o/HX0202/branch"' in html
    english = (await client.get("/console/o/HX?lang=en")).text
    assert "branches need a push (of 5)" in english and "Never reported" in english
    assert 'href="/console/o/HX0202/branch?lang=en"' in english


async def test_the_figures_are_the_bots_week(demo_site: Site) -> None:
    repos, zone = demo_site.app.repos, demo_site.app.config.zone
    monday = week_start(demo_site.clock.now().astimezone(zone).date())
    leader = await demo_site.signed_in(LEADER_HX)
    county = (await _page(leader, "HX", json=True)).json()
    hx = await repos.orgs.by_code("HX")
    assert hx is not None
    bot = await repos.reports.subtree_week(hx.id, monday, monday + timedelta(days=7))
    assert bot.reporters > 0
    assert county["week"]["this"] == bot.reporters
    assert county["week"]["members"] == bot.members
    assert county["week"]["deeds"] == bot.deeds
    last = await repos.reports.subtree_week(hx.id, monday - timedelta(days=7), monday)
    assert county["week"]["last"] == last.reporters
    assert county["weekly"]["values"][-2:] == [last.reporters, bot.reporters]
    assert len(county["weekly"]["values"]) == 12

    secretary = await demo_site.signed_in(SECRETARY_HX0101)
    branch = (await _page(secretary, "HX0101", json=True)).json()
    dongpo = await repos.orgs.by_code("HX0101")
    assert dongpo is not None
    week = await repos.reports.branch_week(dongpo.id, monday, monday + timedelta(days=7))
    assert (branch["week"]["this"], branch["week"]["members"], branch["week"]["deeds"]) == (
        week.reporters,
        week.members,
        week.deeds,
    )
    # And the bot's own words, asked the same week by the same people, say the same.
    for phone, page in ((SECRETARY_HX0101, branch), (LEADER_HX, county)):
        reply = " ".join(await says(demo_site.app, phone, "本周"))
        figures = page["week"]
        assert f"{figures['deeds']}条，{figures['this']}/{figures['members']}人已报" in reply
    mix = {c["key"]: c["count"] for c in county["categories"]}
    assert sum(mix.values()) > 0 and set(mix) >= {"study", "service", "achievement"}


async def test_counted_figures_are_a_minute_fresh_at_most(demo_site: Site) -> None:
    client = await demo_site.signed_in(LEADER_HX)
    before = (await _page(client, "HX02", json=True)).json()
    assert before["week"]["this"] == 0  # 绿水镇: nobody reported this week
    await says(demo_site.app, "+8613800004101", "汇报 帮邻居收玉米")  # 北岗社区's member
    cached = (await _page(client, "HX02", json=True)).json()
    assert cached["week"]["this"] == 0 and cached["counted_at"] == before["counted_at"]
    demo_site.clock.advance(FRESH)
    fresh = (await _page(client, "HX02", json=True)).json()
    assert fresh["week"]["this"] == 1
    rows = {r["code"]: r for r in fresh["units"]["rows"]}
    assert rows["HX0202"]["reasons"] == []  # awake again


async def test_an_open_poll_shows_its_turnout_and_nothing_of_its_answers(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, SECRETARY_HX0101, "评议 水渠清理得怎么样/很干净/还行/没清理")
    await says(app, SECRETARY_HX0101, "确认")
    sweep = JobContext(app.repos, app.config.zone, app.config.bot.language, lambda: None)
    await run_sweeps(sweep, demo_site.clock.now())
    for phone in VILLAGERS_HX0101[:4]:
        await says(app, phone, "1")
    client = await demo_site.signed_in(LEADER_HX01)
    data = (await _page(client, "HX01", json=True)).json()
    (poll,) = data["polls"]
    assert poll["answered"] == 4 and poll["asked"] >= 10
    assert set(poll) == {
        "code",
        "org_name",
        "question",
        "closes_at",
        "closes",
        "answered",
        "asked",
        "turnout",
    }
    html = (await _page(client, "HX01")).text
    assert "水渠清理得怎么样" in html
    for option in ("很干净", "还行", "没清理"):
        assert option not in html


async def test_a_branch_whose_last_poll_few_answered_is_asleep_for_it(demo_site: Site) -> None:
    app = demo_site.app
    await says(app, "+8613800002100", "评议 村里卫生怎么样/好/一般/差")  # 西岭村's secretary
    await says(app, "+8613800002100", "确认")
    sweep = JobContext(app.repos, app.config.zone, app.config.bot.language, lambda: None)
    await run_sweeps(sweep, demo_site.clock.now())
    await says(app, "+8613900002101", "1")  # one villager of the ten asked answers
    demo_site.clock.advance(timedelta(days=app.config.participation.poll_days, hours=1))
    await run_sweeps(sweep, demo_site.clock.now())
    client = await demo_site.signed_in(LEADER_HX01)
    rows = (await _page(client, "HX01", json=True)).json()["units"]["rows"]
    xiling = next(r for r in rows if r["code"] == "HX0102")
    turnout = [r["text"] for r in xiling["reasons"] if r["key"] == "turnout"]
    assert len(turnout) == 1 and "参与率" in turnout[0] and "低于 30%" in turnout[0]
    assert 0 < xiling["turnout"] < TURNOUT_FLOOR
    # 东坡村's last poll, twelve answers of those asked, is no reason.
    dongpo = next(r for r in rows if r["code"] == "HX0101")
    assert "turnout" not in [r["key"] for r in dongpo["reasons"]]
    assert dongpo["turnout"] >= TURNOUT_FLOOR


async def test_a_notice_in_progress_is_counted_never_who_objected(demo_site: Site) -> None:
    repos, now = demo_site.app.repos, demo_site.clock.now()
    dongpo = await repos.orgs.by_code("HX0101")
    assert dongpo is not None
    people = [await repos.people.resolve(Address(AddressKind.SMS, p)) for p in MEMBERS_HX0101]
    ids = [p.person_id for p in people if p.person_id is not None]
    await repos.public_notices.set_shortlist(dongpo.id, 1, ids[:2], now)
    notice = await repos.public_notices.publish(
        org_id=dongpo.id,
        round_no=1,
        last_day=(now + timedelta(days=5)).date(),
        ends_at=now + timedelta(days=6),
        created_by=None,
        source="test:notice",
        now=now,
    )
    objector = VILLAGERS_HX0101[0]
    villager = await repos.people.resolve(Address(AddressKind.SMS, objector))
    assert villager.person_id is not None
    await repos.public_notices.add_objection(
        notice_id=notice.id,
        body="有异议",
        day=now.date(),
        person_id=villager.person_id,
        address=Address(AddressKind.SMS, objector),
        source="test:objection",
    )
    client = await demo_site.signed_in(LEADER_HX01)
    (shown,) = (await _page(client, "HX01", json=True)).json()["notices"]
    assert (shown["code"], shown["candidates"], shown["objections"]) == (f"G{notice.id}", 2, 1)
    html = (await _page(client, "HX01")).text
    assert f"G{notice.id}" in html and "异议 1 条" in html
    assert villager.name and villager.name not in html and objector[3:] not in html


async def test_the_outbox_is_the_subtrees_below_the_root_and_everything_at_it(
    demo_site: Site,
) -> None:
    client = await demo_site.signed_in(LEADER_HX)
    county = (await _page(client, "HX", json=True)).json()["outbox"]
    qingshan = (await _page(client, "HX01", json=True)).json()["outbox"]
    lvshui = (await _page(client, "HX02", json=True)).json()["outbox"]
    assert county["scope"] == "deployment" and qingshan["scope"] == "subtree"
    # The demo poll of 东坡村 went out by SMS, which waits here for a provider (none is
    # configured): counted, and not timed, since this service will never send it.
    assert 0 < qingshan["waiting"] <= county["waiting"]
    assert lvshui["waiting"] == 0
    assert county["finish_seconds"] == 0
    assert [k["configured"] for k in county["kinds"]] == [False]


# --- on a phone ----------------------------------------------------------------------------


async def test_the_county_overview_fits_a_phone(demo_site: Site, browser: Any, shoot: Any) -> None:
    client = await demo_site.signed_in(LEADER_HX)
    context = await browser.new_context(**ZH_PHONE)
    await context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": demo_site.url + "/console"}]
    )
    page = await context.new_page()
    response = await page.goto(demo_site.url + "/console/o/HX")
    assert response.status == 200
    assert await horizontal_overflow(page) == 0
    # The first thing under the title: how many branches are asleep, then which.
    headline = await page.inner_text(".asleep-head .headline")
    assert headline.startswith("3") and "个支部需要督促" in headline
    first = await page.inner_text("ol.units.asleep > li:first-child")
    assert "从未汇报" in first or "两周无汇报" in first
    await shoot(page, "console-overview-county")
    await context.close()
