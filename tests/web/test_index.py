"""The public front page `/`, its JSON twin `/index.json` and `/participation.csv`, on the
populated demo county (tests/web/populate.py): the figures per organisation, both languages,
the campaign's phase and next milestone, nothing personal, and the page on a 360-px phone."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from scheduler.campaign import current_phase, load_campaign, upcoming
from tests.web.browser import EN_PHONE, ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site, _site, web_config
from tests.web.populate import (
    MEMBERS_HX0101,
    MEMBERS_HX0102,
    populated_demo,
)

WEEKS = 12


def _expected_weekly() -> dict[str, list[int]]:
    """Who reported in each of the twelve weeks, oldest first, by the rules populate.py
    follows (week 11 is the oldest, 0 the current one)."""
    east = [
        sum(1 for i in range(len(MEMBERS_HX0101)) if (week + i) % 3 != 0 or week < 3)
        for week in range(11, -1, -1)
    ]
    west = [
        sum(1 for i in range(len(MEMBERS_HX0102)) if week < 6 and (week + i) % 2 == 0)
        for week in range(11, -1, -1)
    ]
    south = [1 if week in (9, 4) else 0 for week in range(11, -1, -1)]
    return {"HX0101": east, "HX0102": west, "HX0201": south, "HX0202": [0] * WEEKS}


def _walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _walk(node["children"])


def _by_code(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["code"]: node for node in _walk(data["organisations"])}


def _people() -> list[tuple[str, str]]:
    """(name, phone) of everyone on the demo roster."""
    text = (resources.files("bot") / "demo" / "people.csv").read_text("utf-8")
    return [(row["姓名"], row["手机"]) for row in csv.DictReader(io.StringIO(text))]


async def test_each_organisation_shows_who_reported_week_by_week(demo_site: Site) -> None:
    response = await demo_site.get("/index.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "Accept-Language" in response.headers["vary"]  # the campaign's texts are translated
    data = response.json()
    found = _by_code(data)
    expected = _expected_weekly()
    east, west = found["HX0101"], found["HX0102"]
    # 东坡村: its youth league cell (one member) rolls up into it, and reported nothing.
    assert east["weekly"] == expected["HX0101"]
    assert found["HX0101T"]["weekly"] == [0] * WEEKS and found["HX0101T"]["members"] == 1
    assert east["members"] == 5 + 1
    assert east["reported_this_week"] == 4 and east["share"] == round(4 / 6, 4)
    assert west["weekly"] == expected["HX0102"] and west["members"] == 4
    assert found["HX0201"]["weekly"] == expected["HX0201"]
    # A township is the sum of its branches; the county of its townships.
    township = [a + b for a, b in zip(expected["HX0101"], expected["HX0102"], strict=True)]
    assert found["HX01"]["weekly"] == township and found["HX01"]["members"] == 10
    county = [a + b for a, b in zip(township, expected["HX0201"], strict=True)]
    assert found["HX"]["weekly"] == county and data["totals"]["weekly"] == county
    assert data["totals"]["members"] == 19
    assert data["totals"]["reported_this_week"] == 6
    assert found["HX0101"]["theme"] == "脱贫致富" and found["HX0102"]["theme"] == "平安和谐社区"
    # Two members' commitments, published as they were made, neither due yet.
    assert east["commitments"] == {"made": 2, "done": 0, "open": 2, "overdue": 0}
    assert data["totals"]["commitments"]["made"] == 2
    assert east["last_report"] == data["today"] == "2026-11-26"
    assert data["weeks"][-1] == "2026-11-23" and len(data["weeks"]) == WEEKS


async def test_a_commitment_past_its_day_is_overdue(demo_site: Site) -> None:
    # "修好村口路灯 到 下周五": Friday 2026-11-27, the day after the demo's present.
    demo_site.clock.advance(timedelta(days=2))
    data = (await demo_site.get("/index.json")).json()
    assert _by_code(data)["HX0101"]["commitments"]["overdue"] == 1
    assert data["totals"]["commitments"]["overdue"] == 1
    page = (await demo_site.get("/")).text
    assert "逾期1项" in page


async def test_the_page_shows_what_its_json_twin_holds(demo_site: Site) -> None:
    data = (await demo_site.get("/index.json")).json()
    html = (await demo_site.get("/")).text
    assert '<html lang="zh-CN">' in html
    (county,) = data["organisations"]  # its figures are the page's totals
    assert {k: county[k] for k in data["totals"]} == data["totals"]
    assert f'href="/o/{county["code"]}"' in html and county["name"] in html
    for node in _walk(county["children"]):
        assert f'href="/o/{node["code"]}"' in html
        assert node["name"] in html
        if node["theme"]:
            assert f"争创主题：{node['theme']}" in html
        if node["members"]:
            share = f"{round(node['share'] * 100)}%"
            line = f"本周{node['reported_this_week']}/{node['members']}名党员汇报（{share}）"
            assert line in html, node["code"]
            weekly = "、".join(str(n) for n in node["weekly"])
            assert f"每周汇报的党员人数：{weekly}" in html  # the trend's label, for readers
    # 东坡村's sparkline: this week's bar is 4 of its 6 members high (22 px is everyone).
    assert "M88 24v-15h6V24z" in html
    totals = data["totals"]
    assert f"<b>{totals['reported_this_week']}</b>名党员本周汇报" in html
    assert f"<b>{round(totals['share'] * 100)}%</b>党员参与率" in html
    assert f"<b>{totals['commitments']['made']}</b>项承诺" in html


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/?lang=en", {}), ("/", {"accept-language": "en-GB,en;q=0.9"})],
)
async def test_english_by_link_or_by_the_browser(
    demo_site: Site, path: str, headers: dict[str, str]
) -> None:
    html = (await demo_site.get(path, headers=headers)).text
    assert '<html lang="en">' in html
    assert "4 of 6 members reported this week (67%)" in html
    assert "Theme: 脱贫致富" in html  # the roster's own words are not translated
    assert "Taking part this week" in html and "本周参与情况" not in html
    link = 'href="/o/HX0101?lang=en"' if "lang=en" in path else 'href="/o/HX0101"'
    assert link in html


async def test_the_campaign_phase_and_next_milestone_as_campaign_show_reads_them(
    db_url: str, tmp_path: Path
) -> None:
    # A week before the 90th anniversary of the shipped campaign (2010-2012).
    clock = FixedClock(datetime(2011, 6, 23, 2, 0, tzinfo=UTC))
    async for site in _site(web_config(db_url, tmp_path), clock):
        await populated_demo(site.app, clock)
        campaign = load_campaign()
        phase = current_phase(campaign, clock.now())
        milestone = upcoming(campaign, clock.now(), 1)[0]
        assert phase is not None and milestone.id == "anniversary-90"
        data = (await site.get("/index.json")).json()["campaign"]
        assert data["phase"] == {
            "id": phase.id,
            "name": "围绕迎接建党90周年开展活动",
            "start": "2010-04-06",
            "end": "2011-07-01",
        }
        assert data["next"]["id"] == "anniversary-90"
        assert data["next"]["at"].startswith("2011-07-01")
        states = {item["id"]: item["state"] for item in data["timeline"]}
        assert states["towards-90th"] == "now" and states["towards-congress"] == "coming"
        assert states["public-notice"] == "past" and states["anniversary-90"] == "coming"
        html = (await site.get("/")).text
        assert "当前阶段：围绕迎接建党90周年开展活动" in html
        assert "2010年4月6日至2011年7月1日" in html
        assert "2011年7月1日" in html and milestone.text["zh-CN"] in html
        english = (await site.get("/?lang=en")).text
        assert "Current phase: Towards the Party&#39;s 90th anniversary" in english
        assert milestone.text["en"].replace("'", "&#39;") in english


async def test_after_the_campaign_the_page_says_so(demo_site: Site) -> None:
    # The demo's present (2026) is after the shipped campaign's end.
    data = (await demo_site.get("/index.json")).json()["campaign"]
    assert data["phase"] is None and data["next"] is None
    html = (await demo_site.get("/")).text
    assert "目前不在活动阶段内。" in html and "活动日程已全部结束。" in html


async def test_the_csv_lists_every_organisation_with_its_weeks(demo_site: Site) -> None:
    response = await demo_site.get("/participation.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    data = (await demo_site.get("/index.json")).json()
    weeks = [f"week_{d}" for d in data["weeks"]]
    assert header == [
        "code", "name", "kind", "parent_code", "members", "reported_this_week", "share", *weeks
    ]  # fmt: skip
    found = _by_code(data)
    assert [row[0] for row in body] == list(found)  # tree order, as on the page
    for row in body:
        node = found[row[0]]
        assert row[1] == node["name"] and int(row[4]) == node["members"]
        assert int(row[5]) == node["reported_this_week"]
        assert float(row[6]) == pytest.approx(node["share"], abs=1e-4)
        assert [int(n) for n in row[7:]] == node["weekly"]
    parents = {row[0]: row[3] for row in body}
    assert parents["HX"] == "" and parents["HX0101"] == "HX01" and parents["HX0101T"] == "HX0101"


async def test_a_name_that_looks_like_a_formula_is_text_in_the_csv(site: Site) -> None:
    await site.app.repos.orgs.upsert_many(
        [
            {
                "code": "HX0203",
                "name": '=HYPERLINK("http://x")',
                "kind": "branch",
                "parent_code": "HX02",
            }
        ],
        site.clock.now(),
    )
    text = (await site.get("/participation.csv")).content.decode("utf-8-sig")
    row = next(r for r in csv.reader(io.StringIO(text)) if r[0] == "HX0203")
    assert row[1] == '\'=HYPERLINK("http://x")'
    html = (await site.get("/")).text
    assert "=HYPERLINK(&#34;http://x&#34;)" in html  # escaped on the page, shown as written


async def test_before_the_roster_is_imported_the_page_says_so(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async for site in _site(web_config(db_url, tmp_path), clock):
        html = (await site.get("/")).text
        assert "还没有导入党组织名单。" in html
        data = (await site.get("/index.json")).json()
        assert data["organisations"] == [] and data["totals"]["weekly"] == [0] * WEEKS
        csv_text = (await site.get("/participation.csv")).content.decode("utf-8-sig")
        assert len(list(csv.reader(io.StringIO(csv_text)))) == 1  # the header alone


async def test_nobody_is_named_and_no_phone_number_appears(demo_site: Site) -> None:
    for path in ("/", "/?lang=en", "/index.json", "/participation.csv"):
        text = (await demo_site.get(path)).text
        for name, phone in _people():
            assert name not in text, (path, name)
            assert phone not in text, (path, phone)
        assert not re.search(r"1[3-9]\d{9}", text), path


# --- in a browser, on a cheap phone -------------------------------------------------------


@pytest.fixture
async def campaign_site(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    """The demo county a week before the 90th anniversary, with a commitment overdue."""
    clock = FixedClock(datetime(2011, 6, 23, 2, 0, tzinfo=UTC))
    async for site in _site(web_config(db_url, tmp_path), clock):
        await populated_demo(site.app, clock)
        clock.advance(timedelta(days=2))
        yield site


@pytest.mark.parametrize(("device", "lang"), [(ZH_PHONE, "zh"), (EN_PHONE, "en")])
async def test_the_index_fits_a_phone_in_both_languages(
    campaign_site: Site, browser: Any, shoot: Any, device: dict[str, Any], lang: str
) -> None:
    page = await browser.new_page(**device)
    response = await page.goto(campaign_site.url + "/")
    assert response.status == 200
    assert await page.get_attribute("html", "lang") == ("zh-CN" if lang == "zh" else "en")
    assert await horizontal_overflow(page) == 0
    await shoot(page, f"index-{lang}")
    # The timeline opens without a script; the page still fits.
    await page.click("summary")
    assert await page.is_visible("ol.timeline")
    assert await horizontal_overflow(page) == 0
    await shoot(page, f"index-{lang}-timeline")
    # Each organisation leads to its own page.
    href = await page.get_attribute("a:has-text('东坡村党支部')", "href")
    assert href == "/o/HX0101"
    await page.close()
