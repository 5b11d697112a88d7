"""The console's overview of an organisation's subtree (/console/o/<code>): who reported this
week against last week and over twelve weeks, the 五带头 mix, the branches asleep first with
why, open polls' turnout, public notices running, and the outbox's health.

Seen by whoever may ask the bot for the same week (Action.BRANCH_WEEK: a secretary their
branch, a leader their subtree, an admin everything); anyone else gets the 404 of a code
that does not exist. The figures are the bot's: the same aggregates as its 本周 reply.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from bot.app import App
from bot.channel_status import configured_kinds, seconds_to_finish
from bot.clock import week_start
from bot.texts import Texts
from bot.web.console.access import ConsoleUser, context_for, csrf_input, org_for, require_user
from bot.web.console.ranking import TURNOUT_FLOOR, Ranked, Reason, rank
from bot.web.pages import as_json, not_found, render, texts_of, wants_json
from handlers.permissions import Action, allowed
from storage import console_overview as store
from storage.activity import UNCATEGORISED, OrgActivity, rolled_up
from storage.models import CATEGORIES, Org, Role

FRESH = timedelta(seconds=60)  # how old the counted figures may be (ActivityCache)
WEEKS = 12  # the trend's length
# The category mix is of the last four weeks, a month of the campaign: what the branches
# are doing now, and a third of the deeds the trend reads.
CATEGORY_WEEKS = 4
FAILED_WINDOW = timedelta(days=7)  # failed sends counted over the last week
# A county's active branches are many: the page lists the least active this many (the ones
# to watch next), and all of them on asking (?all=1); the JSON twin has them all.
AWAKE_SHOWN = 20
MaySee = Callable[[int], Awaitable[bool]]
_NO_STORE = {"cache-control": "no-store"}  # an organiser's page is nobody's to keep


async def overview(request: Request) -> Response:
    texts = texts_of(request)
    user = await require_user(request)
    code = request.path_params["code"]
    if code.endswith(".json"):
        code = code[: -len(".json")]
    org = await org_for(request, user, code, Action.BRANCH_WEEK, texts)
    if org is None:
        return not_found(request)
    app: App = request.app.state.bot
    may_see = await _narrower(request, user, org, texts)
    data = await overview_data(app, org, texts, may_see, activity_cache(request))
    if wants_json(request):
        response = as_json(data)
        del response.headers["access-control-allow-origin"]  # not open data: no other site
        response.headers.update(_NO_STORE)
        return response
    return render(
        request,
        "console/overview.html",
        {
            **data,
            "user": user,
            "csrf": csrf_input(user),
            "awake_shown": AWAKE_SHOWN,
            "show_all": request.query_params.get("all") == "1",
        },
        headers=_NO_STORE,
    )


async def _narrower(request: Request, user: ConsoleUser, org: Org, texts: Texts) -> MaySee | None:
    """None when the user sees the whole subtree of `org` (an admin, a leader at or above
    it); else the check for each organisation below (a secretary sees their branch, not
    the youth league branch under it, as in the bot's 本周)."""
    app: App = request.app.state.bot
    if user.is_admin:
        return None
    leading = {g.org_id for g in user.record.grants if g.role is Role.LEADER}
    if leading.intersection(await app.repos.orgs.ancestor_ids(org.id)):
        return None
    ctx = context_for(request, user, texts)

    async def may_see(org_id: int) -> bool:
        return await allowed(ctx, Action.BRANCH_WEEK, org_id)

    return may_see


@dataclass(frozen=True, slots=True)
class Counted:
    """What the overview counts over the deeds: the slow part, read once per FRESH."""

    at: datetime
    whole: OrgActivity | None  # the headline figures (see overview_data)
    ranked: list[Ranked]  # every organisation with members, asleep first
    names: dict[int, str]  # of the organisations in the subtree
    categories: dict[str, int]


class ActivityCache:
    """Each organisation's counted activity, read at most once a FRESH per process: a
    county's twelve weeks are 200,000 deeds to count (a few hundred milliseconds), a figure
    a minute old says as well which branch is asleep, and two hundred operators opening
    the county's page at the Monday meeting would otherwise count them each. Readers of one
    key share one count in flight. Open polls, notices and the outbox are read live."""

    def __init__(self, most: int = 256) -> None:
        self.most = most
        self._held: OrderedDict[tuple[int, date], asyncio.Task[Counted]] = OrderedDict()

    async def get(self, app: App, org_id: int, now: datetime, today: date) -> Counted:
        key = (org_id, today)
        task = self._held.get(key)
        if (
            task is not None
            and task.done()
            and (
                task.cancelled() or task.exception() is not None or now - task.result().at >= FRESH
            )
        ):
            task = None
        if task is None:
            task = asyncio.ensure_future(_count(app, org_id, now, today))
            self._held[key] = task
            while len(self._held) > self.most:
                self._held.popitem(last=False)
        self._held.move_to_end(key)
        return await asyncio.shield(task)


async def _count(app: App, org_id: int, now: datetime, today: date) -> Counted:
    repos, monday = app.repos, week_start(today)
    entries = await repos.activity.subtree(org_id, weeks=WEEKS, week_start=monday, today=today)
    since = monday - timedelta(weeks=CATEGORY_WEEKS - 1)
    # The bot's 本周 speaks of a branch's own members, of a township's subtree.
    own = next((e for e in entries if e.org_id == org_id), None)
    return Counted(
        now,
        own if own and own.members else rolled_up(entries).get(org_id),
        rank(entries, await store.last_polls(repos.db, org_id, now), today),
        {e.org_id: e.name for e in entries},
        await repos.activity.categories([e.org_id for e in entries], since),
    )


def activity_cache(request: Request) -> ActivityCache:
    """The web app's one cache (made on first use)."""
    state = request.app.state
    if not hasattr(state, "overview_activity"):
        state.overview_activity = ActivityCache()
    cache: ActivityCache = state.overview_activity
    return cache


async def overview_data(
    app: App,
    org: Org,
    texts: Texts,
    may_see: MaySee | None = None,
    cache: ActivityCache | None = None,
) -> dict[str, Any]:
    """The page's figures as plain data: the HTML page and its .json twin render this.
    The headline figures are the bot's 本周: an organisation with members of its own (a
    branch) its own; one without (a township, the county) its subtree's. `may_see`: which
    organisations below are listed (None: all). `cache`: where counted figures are kept
    (None: counted now)."""
    repos, now = app.repos, app.clock.now()
    zone = ZoneInfo(org.timezone) if org.timezone else app.config.zone
    today = now.astimezone(zone).date()
    monday = week_start(today)
    first_monday = monday - timedelta(weeks=WEEKS - 1)
    read = await (cache or ActivityCache()).get(app, org.id, now, today)
    ranked = read.ranked
    if may_see is not None:
        ranked = [r for r in ranked if await may_see(r.unit.org_id)]
    # The deployment's root shows the whole outbox; below it, the subtree's broadcasts.
    outbox_root = None if org.parent_id is None else org.id
    outbox = await store.outbox_health(repos.db, outbox_root, now - FAILED_WINDOW)
    return {
        "org": {"code": org.code, "name": org.name, "kind": org.kind},
        "today": today,
        "counted_at": f"{read.at.astimezone(zone):%Y-%m-%d %H:%M}",
        "week": _week(read.whole),
        "weekly": _trend(read.whole, first_monday),
        "categories": _categories(read.categories, texts),
        "category_weeks": CATEGORY_WEEKS,
        "units": _units(ranked, read.names, org, texts),
        "polls": _polls(await store.open_polls(repos.db, org.id, now), zone, texts.language),
        "notices": [
            {
                "code": f"G{n.notice_id}",
                "org_code": n.org_code,
                "org_name": n.org_name,
                "round": n.round,
                "last_day": n.last_day,
                "candidates": n.candidates,
                "objections": n.objections,
            }
            for n in await store.notices_in_progress(repos.db, org.id, now)
        ],
        "outbox": _outbox(outbox, outbox_root is None, app, now, zone, texts),
    }


def _week(whole: OrgActivity | None) -> dict[str, int]:
    weekly = list(whole.weekly) if whole else []
    return {
        "members": whole.members if whole else 0,
        "this": weekly[-1] if weekly else 0,
        "last": weekly[-2] if len(weekly) > 1 else 0,
        "deeds": whole.deeds_this_week if whole else 0,
        "commitments_open": whole.commitments_open if whole else 0,
        "commitments_overdue": whole.commitments_overdue if whole else 0,
    }


def _trend(whole: OrgActivity | None, first_monday: date) -> dict[str, list[Any]]:
    values = list(whole.weekly) if whole else [0] * WEEKS
    starts = [first_monday + timedelta(weeks=i) for i in range(len(values))]
    return {"values": values, "labels": [f"{d.month}/{d.day}" for d in starts]}


def _categories(counts: dict[str, int], texts: Texts) -> list[dict[str, Any]]:
    """The five categories always, in their order; the uncategorised only when there are."""
    total = sum(counts.values())
    keys = [c.value for c in CATEGORIES] + ([UNCATEGORISED] if counts.get(UNCATEGORISED) else [])
    return [
        {
            "key": key,
            "label": texts.get(f"category.short.{'none' if key == UNCATEGORISED else key}"),
            "count": counts.get(key, 0),
            "share": counts.get(key, 0) / total if total else 0.0,
        }
        for key in keys
    ]


def _units(ranked: list[Ranked], names: dict[int, str], org: Org, texts: Texts) -> dict[str, Any]:
    rows = []
    for r in ranked:
        unit = r.unit
        assert isinstance(unit, OrgActivity)
        parent = unit.parent_id
        rows.append(
            {
                "code": unit.code,
                "name": unit.name,
                "parent": names.get(parent) if parent is not None and parent != org.id else None,
                "members": unit.members,
                "this_week": r.this_week,
                "last_week": r.last_week,
                "last_report": unit.last_report,
                "overdue": unit.commitments_overdue,
                "turnout": r.last_poll.turnout if r.last_poll else None,
                "reasons": [
                    {"key": reason.value, "text": _reason(reason, r, texts)} for reason in r.reasons
                ],
                "link": f"/console/o/{unit.code}/branch",
            }
        )
    asleep = sum(1 for r in ranked if r.asleep)
    return {"total": len(rows), "asleep": asleep, "rows": rows}


def _reason(reason: Reason, r: Ranked, texts: Texts) -> str:
    key = f"web.console.overview.reason.{reason.value}"
    if reason is Reason.SILENT:
        last = r.unit.last_report
        if last is None:
            return texts.get(key + "_never")
        return texts.get(key, since=f"{last.month}/{last.day}")
    if reason is Reason.TURNOUT:
        assert r.last_poll is not None
        return texts.get(
            key,
            rate=round(r.last_poll.turnout * 100),
            floor=round(TURNOUT_FLOOR * 100),
            code=f"P{r.last_poll.poll_id}",
        )
    return texts.get(key, count=r.unit.commitments_overdue)


def _polls(polls: list[store.OpenPoll], zone: ZoneInfo, language: str) -> list[dict[str, Any]]:
    """Open polls with turnout only: nothing of their answers until they close."""
    return [
        {
            "code": f"P{p.poll_id}",
            "org_name": p.org_name,
            "question": p.question_en if language == "en" and p.question_en else p.question,
            "closes_at": p.closes_at,
            "closes": f"{p.closes_at.astimezone(zone):%m-%d %H:%M}",
            "answered": p.answered,
            "asked": max(p.audience_size, p.answered),
            "turnout": p.answered / max(p.audience_size, p.answered, 1),
        }
        for p in polls
    ]


def _outbox(
    health: store.OutboxHealth,
    deployment: bool,
    app: App,
    now: datetime,
    zone: ZoneInfo,
    texts: Texts,
) -> dict[str, Any]:
    configured = configured_kinds(app.config)
    kinds = []
    for kind, waiting in sorted(health.waiting.items()):
        held = waiting.first_due is not None and waiting.first_due > now
        kinds.append(
            {
                "kind": kind,
                "name": texts.get(f"channels.name.{kind}"),
                "count": waiting.count,
                "configured": kind in configured,
                "first_due": (
                    f"{waiting.first_due.astimezone(zone):%m-%d %H:%M}"
                    if held and waiting.first_due
                    else None
                ),
            }
        )
    seconds = seconds_to_finish(health.waiting, app.config)
    return {
        "scope": "deployment" if deployment else "subtree",
        "waiting": health.waiting_total,
        "failed": health.failed,
        "kinds": kinds,
        "finish_seconds": round(seconds),
        "finish": _duration(seconds, texts) if seconds else None,
    }


def _duration(seconds: float, texts: Texts) -> str:
    key = "web.console.overview.outbox.duration"
    if seconds < 90:
        return texts.get(key + "_s", n=max(1, round(seconds)))
    if seconds < 90 * 60:
        return texts.get(key + "_min", n=round(seconds / 60))
    return texts.get(key + "_h", n=f"{seconds / 3600:.1f}")
