"""The records for commendation (issue 14): one XLSX workbook of a subtree's campaign for a
period, its figures equal to the database's, and nothing in it the privacy rules keep back
(ballots, objectors, objections, villagers)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.clock import FixedClock
from bot.polls import MIN_BREAKDOWN, shares
from bot.web.console.access import COOKIE
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site, _site, web_config
from tests.web.populate import LEADER_HX01, SECRETARY_HX0101, VILLAGER_NAMES
from tests.web.populate_more import OBJECTION, VILLAGERS_HX0102, more_demo

SHEETS = ["汇总", "党员事迹", "承诺及兑现", "群众评议结果", "公示及结果", "点评和通报"]
_PHONE_LIKE = re.compile(r"1\d{10}")


@pytest.fixture
async def busy_site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await more_demo(opened.app, clock)
        yield opened


def _period(site: Site, days: int = 120) -> tuple[str, str]:
    today = site.clock.now().astimezone(site.app.config.zone).date()
    return (today - timedelta(days=days)).isoformat(), today.isoformat()


async def _workbook(site: Site, phone: str, code: str, start: str, end: str) -> Any:
    client = await site.signed_in(phone)
    answer = await client.get(f"/console/o/{code}/records", params={"from": start, "to": end})
    assert answer.status_code == 200, answer.text[:300]
    disposition = answer.headers["content-disposition"]
    assert f'filename="{code}-records-{start}_{end}.xlsx"' in disposition
    assert "filename*=UTF-8''" in disposition
    return load_workbook(io.BytesIO(answer.content))


def _rows(sheet: Any) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(min_row=2, values_only=True))


async def _count(site: Site, sql: str, **params: Any) -> int:
    return int(await site.app.repos.db.fetchval(sql, params))


async def test_the_workbook_has_its_sheets_and_the_databases_figures(busy_site: Site) -> None:
    start, end = _period(busy_site)
    book = await _workbook(busy_site, LEADER_HX01, "HX01", start, end)
    assert book.sheetnames == SHEETS
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert sheet.column_dimensions["A"].width and sheet.column_dimensions["B"].width
    assert [c.value for c in book["党员事迹"][1]] == ["日期", "党员", "组织", "五带头类别", "内容"]

    township = await busy_site.app.repos.orgs.by_code("HX01")
    assert township is not None
    subtree = await busy_site.app.repos.orgs.subtree_ids(township.id)
    marks = ", ".join(str(i) for i in subtree)
    deeds = await _count(
        busy_site,
        f"SELECT COUNT(*) FROM deeds WHERE org_id IN ({marks}) "
        "AND local_day BETWEEN :start AND :end",
        start=busy_site.clock.now().date().fromisoformat(start),
        end=busy_site.clock.now().date().fromisoformat(end),
    )
    assert deeds > 20
    assert len(_rows(book["党员事迹"])) == deeds
    summary = {row[0]: row for row in _rows(book["汇总"])}
    assert set(summary) == {"HX01", "HX0101", "HX0102", "HX0101T"}
    assert sum(row[3] for row in summary.values()) == deeds
    branch = await busy_site.app.repos.orgs.by_code("HX0101")
    assert branch is not None
    in_branch = await _count(busy_site, "SELECT COUNT(*) FROM deeds WHERE org_id = :o", o=branch.id)
    assert summary["HX0101"][3] == in_branch
    members = await _count(
        busy_site,
        "SELECT COUNT(*) FROM roles WHERE org_id = :o AND role IN ('member', 'secretary')",
        o=branch.id,
    )
    assert summary["HX0101"][2] == members

    # A shorter period holds fewer deeds: the period is applied.
    short = await _workbook(busy_site, LEADER_HX01, "HX01", *_period(busy_site, days=7))
    assert 0 < len(_rows(short["党员事迹"])) < deeds

    # The closed poll with enough answers: its shares, as the bot computes them.
    polls = await busy_site.app.repos.db.fetch(
        "SELECT id FROM polls WHERE status = 'closed' ORDER BY id"
    )
    by_code: dict[str, list[tuple[Any, ...]]] = {}
    for row in _rows(book["群众评议结果"]):
        by_code.setdefault(row[0], []).append(row)
    assert len(polls) == 2 and set(by_code) == {f"P{p['id']}" for p in polls}
    shown = 0
    for found in polls:
        poll = await busy_site.app.repos.polls.get(found["id"])
        assert poll is not None
        tally = await busy_site.app.repos.polls.tally(poll)
        rows = by_code[poll.code]
        assert {r[4] for r in rows} == {tally.total}
        if tally.total < MIN_BREAKDOWN:
            assert len(rows) == 1 and rows[0][6].startswith("答复少于10份")
            assert rows[0][7] in (None, "")
        else:
            own = [r for r in rows if r[5] == "东坡村党支部"]
            expected = [f"{s}%" for s in shares(tally.counts)]
            assert [(r[6], r[7]) for r in own] == list(zip(poll.options, expected, strict=True))
            shown += 1
    assert shown == 1

    # Commitments, notices, commentary and briefings as stored.
    commitments = _rows(book["承诺及兑现"])
    assert {r[0] for r in commitments} >= {"C1"}
    assert any(r[0] == "C1" and r[6] == "已兑现" for r in commitments)
    notices = _rows(book["公示及结果"])
    g1 = [r for r in notices if r[0] == "G1"]
    assert {r[4] for r in g1} == {"吴建华", "郑丽"}
    assert {r[5] for r in g1} == {"予以表彰"} and {r[7] for r in g1} == {1}
    said = {(r[1], r[4]) for r in _rows(book["点评和通报"])}
    assert ("点评", "走访困难户做得实，继续保持") in said
    assert ("通报", "全镇本月新修村道5公里") in said

    entries = await busy_site.app.repos.db.fetch(
        "SELECT detail FROM audit_log WHERE action = 'records.export' ORDER BY id"
    )
    assert entries[0]["detail"].startswith(f"{start}..{end}: summary 4, deeds {deeds},")


async def test_no_ballot_objector_objection_or_villager_in_the_workbook(busy_site: Site) -> None:
    book = await _workbook(busy_site, LEADER_HX01, "HX01", *_period(busy_site))
    cells = [
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    ]
    text = "\n".join(cells)
    assert OBJECTION not in text and "郑丽照顾的是自家亲戚" not in text
    for name in VILLAGER_NAMES:
        assert name not in text
    assert not _PHONE_LIKE.search(text)
    assert VILLAGERS_HX0102[2][3:] not in text
    polls = [r for r in book["群众评议结果"].iter_rows(min_row=2, values_only=True)]
    # Only shares: no count of any option, and no open poll.
    assert all(r[7] in (None, "") or str(r[7]).endswith("%") for r in polls)
    assert "村里的垃圾清运及时吗" not in text


async def test_a_secretary_exports_their_branch_and_gets_404_for_another(
    busy_site: Site,
) -> None:
    start, end = _period(busy_site)
    book = await _workbook(busy_site, SECRETARY_HX0101, "HX0101", start, end)
    assert [r[0] for r in _rows(book["汇总"])] == ["HX0101", "HX0101T"]
    assert {r[2] for r in _rows(book["党员事迹"])} == {"东坡村党支部"}
    client = await busy_site.signed_in(SECRETARY_HX0101)
    other = await client.get("/console/o/HX0102/records", params={"from": start, "to": end})
    unknown = await client.get("/console/o/NOPE/records", params={"from": start, "to": end})
    assert other.status_code == unknown.status_code == 404
    assert other.text.replace("HX0102", "NOPE") == unknown.text
    bad = await client.get("/console/o/HX0101/records", params={"from": end, "to": start})
    assert bad.status_code == 400 and "请填写正确的日期" in bad.text
    form = await client.get("/console/o/HX0101/records")
    assert form.status_code == 200 and 'type="date"' in form.text


async def test_export_the_workbook_from_a_phone(
    busy_site: Site, browser, shoot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client = await busy_site.signed_in(LEADER_HX01)
    page = await browser.new_page(**ZH_PHONE, accept_downloads=True)
    await page.context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": busy_site.url + "/console"}]
    )
    await page.goto(busy_site.url + "/console/o/HX01/records")
    assert await page.inner_text("h1") == "评先材料导出"
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-records")
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="导出工作簿").click()
    download = await waiting.value
    assert download.suggested_filename.startswith("HX01-")
    saved = tmp_path / "records.xlsx"
    await download.save_as(saved)
    assert load_workbook(saved).sheetnames == SHEETS
