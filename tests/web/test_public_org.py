"""/o/<code>: one organisation's public page and its JSON twin, on the demo county."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FixedClock
from bot.config import load_config
from bot.polls import MIN_BREAKDOWN, shares
from bot.web.public import org
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps
from storage.models import Org
from storage.polls import Poll, Tally
from tests.conftest import KEY_ENV
from tests.web.browser import EN_PHONE, ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site, _site, web_config
from tests.web.populate import SECRETARY_HX0101, load_demo, says
from tests.web.populate_more import (
    BRIEFING_BRANCH,
    BRIEFING_TOWNSHIP,
    COMMENTARY,
    HIDDEN_QUESTION,
    OBJECTION,
    OPEN_QUESTION,
    more_demo,
)


@pytest.fixture
async def busy_site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    """The demo county after tests/web/populate_more.py."""
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await more_demo(opened.app, clock)
        yield opened


async def _json(site: Site, path: str) -> dict[str, Any]:
    response = await site.get(path)
    assert response.status_code == 200, path
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_a_branch_page_shows_what_the_campaign_published(busy_site: Site) -> None:
    data = await _json(busy_site, "/o/HX0101.json")
    assert data["org"] == {
        "code": "HX0101",
        "name": "东坡村党支部",
        "kind": "branch",
        "theme": "脱贫致富",
    }
    assert [u["code"] for u in data["up"]] == ["HX01", "HX"]
    # Commitments: C1 done, C2 due; members' names with their published commitments.
    statuses = {c["code"]: (c["status"], c["member"]) for c in data["commitments"]}
    assert statuses == {"C1": ("done", "李秀英"), "C2": ("due", "王志强")}
    # The open poll: its question and how to answer, nothing of its figures.
    [open_poll] = data["open_polls"]
    assert open_poll["question"].startswith(OPEN_QUESTION)
    assert open_poll["options"] == ["及时", "不及时"]
    assert open_poll["sms"] == {"number": None, "example": f"{open_poll['code']} 1"}
    assert open_poll["telegram"] is None  # Telegram is not configured
    assert set(open_poll) == {
        "code",
        "by",
        "own",
        "audience",
        "question",
        "options",
        "closes",
        "sms",
        "telegram",
    }
    # The closed poll: the bot's tally, shares as the bot computes them.
    [result] = data["results"]
    poll = await busy_site.app.repos.polls.by_code(result["code"])
    assert poll is not None
    tally = await busy_site.app.repos.polls.tally(poll)
    assert result["shown"] and result["answered"] == tally.total == 10
    assert [o["count"] for o in result["options"]] == list(tally.counts) == [6, 2, 2]
    assert [o["share"] for o in result["options"]] == shares(tally.counts)
    # The notice on display, its candidates and no objection.
    [notice] = data["notices"]
    assert notice["open"] and [c["name"] for c in notice["candidates"]] == ["王志强", "李秀英"]
    assert [c["body"] for c in data["commentary"]] == [COMMENTARY]
    assert data["commentary"][0]["by"] == "青山镇党委"  # the office, not the leader's name
    assert [b["body"] for b in data["briefings"]] == [BRIEFING_BRANCH, BRIEFING_TOWNSHIP]
    [deed] = data["featured"]
    assert deed["member"] == "王志强" and deed["branch"] == "东坡村党支部"
    assert deed["text"] and deed["day"]
    township = await _json(busy_site, "/o/HX01.json")
    assert township["featured"] == data["featured"]  # a subtree shows its branches' deeds
    assert data["figures"]["members"] == 6  # its youth league's member included


async def test_the_page_and_its_twin_say_the_same(busy_site: Site) -> None:
    data = await _json(busy_site, "/o/HX0101.json")
    html = (await busy_site.get("/o/HX0101")).text
    assert f"<h1>{data['org']['name']}</h1>" in html
    for c in data["commitments"]:
        assert c["body"] in html
    assert OPEN_QUESTION in html and COMMENTARY in html
    assert OBJECTION not in html and OBJECTION not in str(data)
    # The open poll's answers so far (four "2") are nowhere: no count, no chart.
    open_code = data["open_polls"][0]["code"]
    article = html.split(f'id="{open_code}"', 1)[1].split("</article>", 1)[0]
    assert "<svg" not in article and "%" not in article


async def test_a_closed_poll_with_too_few_answers_shows_only_how_many(busy_site: Site) -> None:
    data = await _json(busy_site, "/o/HX0102.json")
    [result] = data["results"]
    assert result["question"].startswith(HIDDEN_QUESTION)
    assert result["answered"] == 3 < MIN_BREAKDOWN
    assert not result["shown"] and result["options"] == [] and result["branches"] == []
    html = (await busy_site.get("/o/HX0102")).text
    block = html.split(f'id="{result["code"]}"', 1)[1].split("</article>", 1)[0]
    assert "<svg" not in block and f"不足{MIN_BREAKDOWN}人" in block
    # Its notice was decided and announced: the outcome is public.
    [notice] = data["notices"]
    assert notice["announced"] and not notice["open"]
    assert [(c["name"], c["outcome"]) for c in notice["candidates"]] == [
        ("吴建华", "commended"),
        ("郑丽", "commended"),
    ]
    assert [c["status"] for c in data["commitments"]] == ["overdue"]


async def test_a_township_rolls_its_branches_up_and_links_down(busy_site: Site) -> None:
    township = await _json(busy_site, "/o/HX01.json")
    branches = {u["code"]: u for u in township["below"]}
    assert set(branches) == {"HX0101", "HX0102"}
    hx0101 = await _json(busy_site, "/o/HX0101.json")
    hx0102 = await _json(busy_site, "/o/HX0102.json")
    # A branch's row is its page's figures (东坡村's youth league included in its own).
    assert branches["HX0101"]["members"] == hx0101["figures"]["members"]
    assert branches["HX0102"]["commitments"] == hx0102["figures"]["commitments"]
    assert township["figures"]["members"] == sum(u["members"] for u in township["below"])
    html = (await busy_site.get("/o/HX01")).text
    assert 'href="/o/HX0101"' in html and 'href="/o/HX0102"' in html
    assert 'href="/o/HX"' in html  # and up to the county
    branch = (await busy_site.get("/o/HX0101?lang=en")).text
    assert 'href="/o/HX01?lang=en"' in branch


async def test_an_unknown_code_is_a_404(site: Site) -> None:
    assert (await site.get("/o/NOWHERE", headers={"accept": "text/html"})).status_code == 404
    assert (await site.get("/o/NOWHERE.json")).status_code == 404


async def test_an_sms_number_is_shown_when_the_deployment_has_one(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[scheduler]\nenabled = false\n"
        f'[twilio]\naccount_sid = "AC{"1" * 32}"\nfrom_number = "+8610690000"\n'
        # Nothing leaves the machine: the provider's API is a closed loopback port.
        'public_url = "https://x.example.org"\napi_base_url = "http://127.0.0.1:9"\n'
    )
    env = {"GRASSROOTS_DATABASE_URL": db_url, "TWILIO_AUTH_TOKEN": "x", **KEY_ENV}
    config = load_config(path, env=env)
    async for site in _site(config, clock):
        await load_demo(site.app)
        await says(site.app, SECRETARY_HX0101, "评议 路灯修好了吗/修好了/没修好")
        await says(site.app, SECRETARY_HX0101, "确认")
        sweep = JobContext(site.app.repos, config.zone, "zh-CN", lambda: None)
        await run_sweeps(sweep, clock.now())
        html = (await site.get("/o/HX0101")).text
        assert "发短信到+8610690000，内容写“P1 1”" in html
        assert (await site.get("/o/HX0101.json")).json()["open_polls"][0]["sms"] == {
            "number": "+8610690000",
            "example": "P1 1",
        }


async def test_a_built_page_is_served_again_until_it_is_too_old(
    busy_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(org, "CACHE_SECONDS", 3600)  # no clock race on a slow machine
    first = await _json(busy_site, "/o/HX0101.json")
    await says(busy_site.app, SECRETARY_HX0101, "通报 明天开会")
    assert await _json(busy_site, "/o/HX0101.json") == first
    english = await _json(busy_site, "/o/HX0101.json?lang=en")  # built apart, so fresh
    assert english["briefings"][0]["body"] == "明天开会"
    monkeypatch.setattr(org, "CACHE_SECONDS", 0)
    fresh = await _json(busy_site, "/o/HX0101.json")
    assert fresh["briefings"][0]["body"] == "明天开会"


def _bar_widths(svg_html: str) -> list[float]:
    return [float(w) for w in re.findall(r'width="([\d.]+)" height="22" class="bar', svg_html)]


async def test_a_branch_page_on_a_phone_in_both_languages(  # type: ignore[no-untyped-def]
    busy_site: Site, browser, shoot
) -> None:
    data = await _json(busy_site, "/o/HX0101.json")
    [result] = data["results"]
    poll = await busy_site.app.repos.polls.by_code(result["code"])
    assert poll is not None
    tally = await busy_site.app.repos.polls.tally(poll)
    languages = (("zh", ZH_PHONE, "公开承诺"), ("en", EN_PHONE, "Public commitments"))
    for name, device, heading in languages:
        page = await browser.new_page(**device)
        await page.goto(busy_site.url + "/o/HX0101")
        assert await page.inner_text("#commitments") == heading
        assert await horizontal_overflow(page) == 0
        # The chart's bars are as long as the shares the bot computed from the tally.
        chart = page.locator(f'[id="{result["code"]}"] svg.bars').first
        widths = [
            float(await bar.get_attribute("width") or 0)
            for bar in await chart.locator("rect.bar").all()
        ]
        track = float(await chart.locator("rect.track").first.get_attribute("width") or 0)
        expected = [percent / 100 for percent in shares(tally.counts)]
        assert [round(w / track, 3) for w in widths] == pytest.approx(expected, abs=0.002)
        figures = await chart.locator("text.figure").evaluate_all(
            "texts => texts.map(t => t.textContent)"
        )
        assert [int(f.split("%")[0]) for f in figures] == shares(tally.counts)
        await shoot(page, f"org-HX0101-{name}")
        await page.close()
    page = await browser.new_page(**ZH_PHONE)
    await page.goto(busy_site.url + "/o/HX01")
    assert await horizontal_overflow(page) == 0
    await shoot(page, "org-HX01-zh")
    await page.close()


class _Uninitialised:
    @property
    def username(self) -> str:
        raise RuntimeError("ExtBot is not properly initialized. Call `ExtBot.initialize`")


def test_the_telegram_link_names_the_bot_only_once_telegram_said_who_it_is() -> None:
    def bot_with(telegram: object) -> Any:
        return SimpleNamespace(telegram=telegram)

    named = SimpleNamespace(bot=SimpleNamespace(username="hexing_bot"))
    assert org.telegram_username(bot_with(named)) == "hexing_bot"
    assert org.telegram_username(bot_with(SimpleNamespace(bot=_Uninitialised()))) is None
    assert org.telegram_username(bot_with(None)) is None


def _township_poll() -> Poll:
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    return Poll(
        id=9, org_id=1, question="镇里的路修得好吗？", question_en=None, options=("好", "不好"),
        options_en=None, audience="public", opens_at=moment, closes_at=moment, status="closed",
        allow_change=True, series=None, position=0, subject=None, audience_size=40,
        created_by=None, results_sent_at=moment,
    )  # fmt: skip


def _unit_of(org_id: int, code: str) -> Org:
    return Org(org_id, code, code, "branch" if org_id > 1 else "township", 1, None, None)


@pytest.mark.parametrize(
    ("second_branch", "shown"),
    [((3, 0), set()), ((6, 4), {"A", "B"})],  # 3 hidden answers would give B's away
)
def test_a_township_poll_breaks_down_by_branch_only_as_the_bot_would(
    second_branch: tuple[int, int], shown: set[str]
) -> None:
    poll = _township_poll()
    by_org = {2: (8, 4), 3: second_branch}
    counts = tuple(sum(c) for c in zip(*by_org.values(), strict=True))
    tally = Tally(sum(counts), counts, by_org, sum(counts))
    names = {1: "T", 2: "A", 3: "B"}
    zone = ZoneInfo("Asia/Shanghai")
    township = org._result(poll, tally, _unit_of(1, "T"), names, zone, "zh-CN")
    assert township["shown"] and {b["name"] for b in township["branches"]} == shown
    # A branch's page shows its own breakdown only, and only where the township's would.
    branch_a = org._result(poll, tally, _unit_of(2, "A"), names, zone, "zh-CN")
    assert {b["name"] for b in branch_a["branches"]} == shown & {"A"}
    assert [o["share"] for o in branch_a["options"]] == shares(counts)
