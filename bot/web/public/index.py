"""`/`, `/index.json` and `/participation.csv`: the campaign's front page. The current phase,
the next milestone and the timeline (the same reading of the campaign file as `grassroots
campaign show`: load_campaign, current_phase, upcoming); the organisation tree with each
organisation's theme (争创主题); participation this week and over the last twelve weeks; and
public commitments made, done and overdue.

Every figure of an organisation is rolled up over its subtree (a township's are its
branches'), from storage/activity.py. No person is named on this page.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import App
from bot.exports import csv_text
from bot.web.pages import PUBLIC_MAX_AGE, page, texts_of
from scheduler.campaign import Campaign, CampaignError, current_phase, load_campaign, upcoming
from storage.activity import OrgActivity, local_week, rolled_up, week_starts

log = logging.getLogger(__name__)

WEEKS = 12  # the trend's span: a quarter, long enough to see a branch wake up or fall asleep


def routes() -> list[Route]:
    return [
        Route("/", index_page, name="index"),
        Route("/index.json", index_page, name="index_json"),
        Route("/participation.csv", participation_csv, name="participation_csv"),
    ]


async def index_page(request: Request) -> Response:
    bot: App = request.app.state.bot
    data = await index_data(bot, texts_of(request).language)
    response = page(request, "public/index.html", data, max_age=PUBLIC_MAX_AGE)
    response.headers["vary"] = "Accept-Language"  # the JSON too: the campaign's texts
    return response


async def participation_csv(request: Request) -> Response:
    """One row per organisation, its figures rolled up over its subtree, the weeks oldest
    first. Column names are English and fixed, for programs; cells are neutralised, since a
    name is whatever the roster said."""
    bot: App = request.app.state.bot
    today, monday = local_week(bot.clock.now(), bot.config.zone)
    mondays = week_starts(monday, WEEKS)
    header = [
        "code",
        "name",
        "kind",
        "parent_code",
        "members",
        "reported_this_week",
        "share",
        *(f"week_{d.isoformat()}" for d in mondays),
    ]
    rows = [
        [
            entry.code,
            entry.name,
            entry.kind,
            parent_code or "",
            entry.members,
            entry.reported_this_week,
            f"{entry.share:.4f}",
            *entry.weekly,
        ]
        for entry, parent_code in await _organisations(bot, today, monday)
    ]
    # A byte-order mark, so that Excel reads the Chinese names as UTF-8.
    response = Response(csv_text(header, rows, bom=True), media_type="text/csv; charset=utf-8")
    response.headers["cache-control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    response.headers["content-disposition"] = 'inline; filename="participation.csv"'
    response.headers["access-control-allow-origin"] = "*"
    return response


async def _forest(
    bot: App, today: date, monday: date
) -> list[tuple[OrgActivity, list[OrgActivity], dict[int, OrgActivity]]]:
    """Each root organisation (a county, usually one), its subtree's own figures and their
    roll-ups."""
    forest = []
    for root in await bot.repos.activity.roots():
        own = await bot.repos.activity.subtree(root, weeks=WEEKS, week_start=monday, today=today)
        top = next(e for e in own if e.org_id == root)
        forest.append((top, own, rolled_up(own)))
    return forest


async def _organisations(
    bot: App, today: date, monday: date
) -> list[tuple[OrgActivity, str | None]]:
    """Every organisation with its rolled-up figures and its parent's code, tree order."""
    rows: list[tuple[OrgActivity, str | None]] = []
    for _, own, totals in await _forest(bot, today, monday):
        codes = {e.org_id: e.code for e in own}
        for entry in _tree_order(own):
            parent = codes.get(entry.parent_id) if entry.parent_id is not None else None
            rows.append((totals[entry.org_id], parent))
    return rows


def _tree_order(entries: list[OrgActivity]) -> list[OrgActivity]:
    """Depth first, children by code: each organisation right after its parent."""
    children: dict[int | None, list[OrgActivity]] = {}
    known = {e.org_id for e in entries}
    for entry in entries:
        parent = entry.parent_id if entry.parent_id in known else None
        children.setdefault(parent, []).append(entry)
    ordered: list[OrgActivity] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        entry = stack.pop()
        ordered.append(entry)
        stack.extend(reversed(children.get(entry.org_id, [])))
    return ordered


async def index_data(bot: App, language: str) -> dict[str, Any]:
    """The page as plain data: the HTML renders it and /index.json is it."""
    now = bot.clock.now()
    today, monday = local_week(now, bot.config.zone)
    trees = []
    for top, own, totals in await _forest(bot, today, monday):
        children: dict[int | None, list[OrgActivity]] = {}
        for entry in own:
            children.setdefault(entry.parent_id, []).append(entry)
        trees.append(_node(top, totals, children))
    return {
        "campaign": _campaign_data(bot, now, language),
        "today": today,
        "weeks": week_starts(monday, WEEKS),
        "totals": _sum_nodes(trees),
        "organisations": trees,
    }


def _figures(entry: OrgActivity) -> dict[str, Any]:
    return {
        "members": entry.members,
        "reported_this_week": entry.reported_this_week,
        "share": round(entry.share, 4),
        "weekly": list(entry.weekly),
        "deeds_this_week": entry.deeds_this_week,
        "last_report": entry.last_report,
        "commitments": {
            "made": entry.commitments_made,
            "done": entry.commitments_done,
            "open": entry.commitments_open,
            "overdue": entry.commitments_overdue,
        },
    }


def _node(
    entry: OrgActivity,
    totals: dict[int, OrgActivity],
    children: dict[int | None, list[OrgActivity]],
) -> dict[str, Any]:
    return {
        "code": entry.code,
        "name": entry.name,
        "kind": entry.kind,
        "theme": entry.theme,
        **_figures(totals[entry.org_id]),
        "children": [_node(c, totals, children) for c in children.get(entry.org_id, [])],
    }


def _sum_nodes(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole campaign's figures: the roots' added (a deployment may hold two counties)."""
    members = sum(n["members"] for n in nodes)
    weekly = [sum(week) for week in zip(*(n["weekly"] for n in nodes), strict=True)] or [0] * WEEKS
    reported = weekly[-1]
    last = [n["last_report"] for n in nodes if n["last_report"] is not None]
    return {
        "members": members,
        "reported_this_week": reported,
        "share": round(reported / members, 4) if members else 0.0,
        "weekly": weekly,
        "deeds_this_week": sum(n["deeds_this_week"] for n in nodes),
        "last_report": max(last) if last else None,
        "commitments": {
            key: sum(n["commitments"][key] for n in nodes)
            for key in ("made", "done", "open", "overdue")
        },
    }


# --- the campaign file --------------------------------------------------------------------


@cache
def _campaign(path: str, start: date | None) -> Campaign | None:
    """Read once per process: the file is checked when `serve` starts the scheduler."""
    try:
        return load_campaign(path or None, start=start)
    except CampaignError as exc:
        log.warning("the campaign is not shown on the public pages: %s", exc)
        return None


def _campaign_data(bot: App, now: datetime, language: str) -> dict[str, Any] | None:
    settings = bot.config.scheduler
    campaign = _campaign(settings.campaign, settings.campaign_start)
    if campaign is None:
        return None
    phase = current_phase(campaign, now)
    # Milestones for a part of the county only are that part's business, not the front page's.
    following = [m for m in upcoming(campaign, now, len(campaign.milestones)) if not m.subtree]
    today = now.astimezone(campaign.zone).date()
    timeline: list[dict[str, Any]] = []
    for p in campaign.phases:
        state = "past" if p.end and p.end < today else "coming" if p.start > today else "now"
        if state == "now" and phase is not None and p.id != phase.id:
            state = "past"  # overlapped by a phase that started later
        timeline.append(
            {
                "kind": "phase",
                "id": p.id,
                "date": p.start,
                "end": p.end,
                "text": p.name[language],
                "state": state,
            }
        )
    for m in campaign.milestones:
        if not m.subtree:
            timeline.append(
                {
                    "kind": "milestone",
                    "id": m.id,
                    "date": m.at.astimezone(campaign.zone).date(),
                    "end": None,
                    "text": m.text[language],
                    "state": "past" if m.at < now else "coming",
                }
            )
    timeline.sort(key=lambda item: (item["date"], item["kind"] != "phase"))
    return {
        "id": campaign.id,
        "name": campaign.name[language],
        "start": campaign.start,
        "phase": (
            {"id": phase.id, "name": phase.name[language], "start": phase.start, "end": phase.end}
            if phase
            else None
        ),
        "next": (
            {
                "id": following[0].id,
                "at": following[0].at.astimezone(campaign.zone),
                "text": following[0].text[language],
            }
            if following
            else None
        ),
        "timeline": timeline,
    }
