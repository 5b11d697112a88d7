"""The console's polls: the preview equals the bot's, an open poll shows turnout only, a
closed poll's exports equal the CLI's, another branch's polls are 404, CSRF is checked."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook

from bot.polls import reach_and_cost
from bot.texts import catalog, texts_for
from bot.web.console.access import COOKIE
from tests.test_cli import grassroots
from tests.test_cli_ops import env_for
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.populate import SECRETARY_HX0101, VILLAGERS_HX0101, says

SECRETARY_HX0201 = "+8613800003100"
FIGURE = "web.console.polls."


def figures(html: str) -> dict[str, int]:
    """The preview's figures by their label's key (people, by_sms, by_telegram, ...)."""
    block = html.split('id="preview"', 1)[1].split("</ul>", 1)[0]
    labels = {v: k.rsplit(".", 1)[1] for k, v in catalog("zh-CN").items() if k.startswith(FIGURE)}
    return {labels[label]: int(n) for n, label in re.findall(r"<b>(\d+)</b>([^<]+)</li>", block)}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found[1]


async def create(site: Site, phone: str, question: str, org: str = "HX0101", **extra: str):
    client = await site.signed_in(phone)
    page = await client.get(f"/console/o/{org}/polls")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "question": question, "options": "", "audience": "public"}
    form |= {"opens": "", "closes": ""} | extra
    if not form["opens"]:
        now = site.clock.now().astimezone(site.app.config.zone)
        form["opens"] = now.strftime("%Y-%m-%dT%H:%M")
        form["closes"] = (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    made = await client.post(f"/console/o/{org}/polls", data=form)
    return client, made


async def test_the_preview_is_the_bots_and_confirm_opens_it(site: Site):
    client, made = await create(site, SECRETARY_HX0101, "村里路灯修得满意吗")
    assert made.status_code == 303
    target = made.headers["location"]
    code = target.rsplit("/", 1)[1]
    preview = await client.get(target)
    shown = figures(preview.text)
    people, sms, segments, cost = (shown[k] for k in ("people", "by_sms", "segments", "cost"))
    telegram = shown.get("by_telegram", 0)  # a chat channel is shown when it reaches someone
    # What 评议 by SMS previews for the same question
    replies = await says(site.app, SECRETARY_HX0101, "评议 村里路灯修得满意吗")
    texts = texts_for("zh-CN")
    poll = await site.app.repos.polls.by_code(code)
    assert poll is not None and poll.status == "draft"
    org = await site.app.repos.orgs.by_id(poll.org_id)
    reach, cost_segments = await reach_and_cost(
        site.app.repos, poll, org.name, site.app.config.zone, "zh-CN"
    )
    assert (sms, telegram, segments) == (
        reach.get("sms", 0),
        reach.get("telegram", 0),
        cost_segments,
    )
    assert people == sms + telegram > 0 and cost == segments * sms
    sms_preview = next(r for r in replies if "P" in r)
    assert f"{texts.get('poll.audience.public')}" in sms_preview
    assert str(people) in sms_preview and str(segments) in sms_preview
    # Confirm: the poll opens and its invitations are queued, audited
    token = csrf_of(preview.text)
    sent = await client.post(target + "/confirm", data={"csrf": token})
    assert sent.status_code == 303
    opened = await site.app.repos.polls.by_code(code)
    assert opened is not None and opened.status == "open"
    audit = await site.app.repos.db.fetch("SELECT action, detail FROM audit_log ORDER BY id")
    assert [(r["action"], r["detail"]) for r in audit][-2:] == [
        ("poll.create", code),
        ("poll.open", code),
    ]


async def test_an_open_poll_shows_turnout_only(site: Site):
    client, made = await create(site, SECRETARY_HX0101, "水渠修得好吗")
    target = made.headers["location"]
    page = await client.get(target)
    await client.post(target + "/confirm", data={"csrf": csrf_of(page.text)})
    code = target.rsplit("/", 1)[1]
    for phone in VILLAGERS_HX0101[:3]:
        await says(site.app, phone, f"{code} 1")
    page = await client.get(target)
    assert "已答 3／" in page.text
    assert "<svg" not in page.text and ".csv" not in page.text
    twin = await client.get(target + ".json")
    assert "access-control-allow-origin" not in twin.headers  # an organiser's, not open data
    live = twin.json()
    assert set(live) == {"code", "state", "answered", "audience", "rate"}
    assert (live["state"], live["answered"]) == ("open", 3)
    assert (await client.get(target + ".csv")).status_code == 404
    assert (await client.get(target + ".xlsx")).status_code == 404


async def test_a_closed_polls_exports_equal_the_clis(demo_site: Site, tmp_path: Path, db_url: str):
    client = await demo_site.signed_in(SECRETARY_HX0101)
    listing = await client.get("/console/o/HX0101/polls")
    code = re.search(r"/polls/(P\d+)", listing.text)[1]  # type: ignore[index]
    page = await client.get(f"/console/o/HX0101/polls/{code}")
    assert "已截止" in page.text and "<svg" in page.text
    english = await client.get(f"/console/o/HX0101/polls/{code}?lang=en")
    assert "Results" in english.text and "Download CSV" in english.text
    exported = await client.get(f"/console/o/HX0101/polls/{code}.csv")
    assert exported.status_code == 200
    mine = list(csv.reader(io.StringIO(exported.text)))
    run = grassroots(
        tmp_path, "poll", "results", code, "--csv", "cli.csv", env=env_for(tmp_path, db_url)
    )
    assert run.returncode == 0, run.stderr
    theirs = list(csv.reader((tmp_path / "cli.csv").open(encoding="utf-8")))
    assert mine == theirs and len(mine) > 3
    book = load_workbook(
        io.BytesIO((await client.get(f"/console/o/HX0101/polls/{code}.xlsx")).content)
    )
    sheet = book.active
    cells = [
        ["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert cells == theirs
    counts = [int(row[3]) for row in mine[1:] if row[3]]
    assert sum(counts[:3]) >= 10  # the demo's twelve answers, shown


async def test_another_branchs_polls_are_not_found(demo_site: Site):
    client = await demo_site.signed_in(SECRETARY_HX0201)
    for path in ("/console/o/HX0101/polls", "/console/o/HX0101/polls/P1", "/console/o/ZZ99/polls"):
        answer = await client.get(path, headers={"accept": "text/html"})
        assert answer.status_code == 404, path
    own = await client.get("/console/o/HX0201/polls")
    assert own.status_code == 200
    posted = await client.post(
        "/console/o/HX0101/polls", data={"csrf": csrf_of(own.text), "question": "x"}
    )
    assert posted.status_code == 404


async def test_a_form_without_its_token_is_refused(site: Site):
    client = await site.signed_in(SECRETARY_HX0101)
    answer = await client.post("/console/o/HX0101/polls", data={"question": "没有令牌吗"})
    assert answer.status_code == 403
    assert await site.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM polls") == 0


async def test_in_the_browser_create_a_poll_and_see_its_preview(site: Site, browser, shoot):
    client = await site.signed_in(SECRETARY_HX0101)
    context = await browser.new_context(**ZH_PHONE)
    await context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": site.url + "/console"}]
    )
    page = await context.new_page()
    await page.goto(site.url + "/console/o/HX0101/polls")
    await page.get_by_label("评议问题").fill("村里的路灯修得满意吗")
    await page.get_by_label("选项（每行一个，可不填）").fill("满意\n不满意\n不了解")
    await shoot(page, "console-poll-form")
    assert await horizontal_overflow(page) == 0
    await page.get_by_role("button", name="预览").click()
    await page.wait_for_selector("#preview")
    shown = figures(await page.content())
    assert shown["people"] > 0 and shown["cost"] == shown["by_sms"] * shown["segments"]
    await shoot(page, "console-poll-preview")
    assert await horizontal_overflow(page) == 0
    await page.get_by_role("button", name="确认发出").click()
    await page.wait_for_selector("#turnout")
    assert "已答 0／" in await page.locator("#turnout").inner_text()
    await shoot(page, "console-poll-open")
    await context.close()


async def test_in_the_browser_a_closed_polls_charts(demo_site: Site, browser, shoot):
    client = await demo_site.signed_in(SECRETARY_HX0101)
    context = await browser.new_context(**ZH_PHONE)
    await context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": demo_site.url + "/console"}]
    )
    page = await context.new_page()
    await page.goto(demo_site.url + "/console/o/HX0101/polls")
    await page.locator("main li a").first.click()
    await page.wait_for_selector("svg.chart")
    await shoot(page, "console-poll-results")
    assert await horizontal_overflow(page) == 0
    await context.close()


async def test_a_poll_that_opens_later_waits_for_the_scheduler(site: Site):
    later = site.clock.now().astimezone(site.app.config.zone) + timedelta(days=1)
    client, made = await create(
        site,
        SECRETARY_HX0101,
        "明天开始的评议",
        opens=later.strftime("%Y-%m-%dT%H:%M"),
        closes=(later + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
    )
    target = made.headers["location"]
    page = await client.get(target)
    await client.post(target + "/confirm", data={"csrf": csrf_of(page.text)})
    poll = await site.app.repos.polls.by_code(target.rsplit("/", 1)[1])
    assert poll is not None and poll.status == "scheduled"
    assert await site.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM outbox") == 0
    assert "待开始" in (await client.get(target)).text
