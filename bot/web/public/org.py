"""`/o/<code>` and `/o/<code>.json`: one organisation's public page. Its theme, published
commitments, open polls and how to answer them, closed polls' results under the bot's own
privacy rules (bot/polls.py), notices on display and their outcomes, leaders' commentary and
briefings, featured deeds (典型, storage/featured.py); an organisation with units below
rolls their figures up and links down to each, and every page links up to the one above.

Nothing personal: no phone number, no villager, no ballot, no objector, no comment author.
Members' names appear only with their published commitments, as candidates on notice and
with their featured deeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import App
from bot.clock import week_start
from bot.polls import MIN_BREAKDOWN, poll_state, share, shares, visible_branches
from bot.texts import Texts
from bot.web.pages import PUBLIC_MAX_AGE, not_found, page, texts_of
from storage.models import Org
from storage.org_page import OrgPageQueries, UnitFigures
from storage.polls import Poll, Tally

# Closed polls older than this are not on the page (the bot's SMS results stay the record),
# nor more than the latest few: each is a chart, and the page is read on a cheap phone.
RESULTS_FOR = timedelta(days=365)
MOST_RESULTS = 10
MOST_FEATURED = 10
# A page is built at most once per this many seconds for each address and language: a
# village's page shared in a WeChat group is opened by many phones at once, its figures are
# public and the same for every reader, and a few seconds old is as good as new. 0: off.
CACHE_SECONDS = 5.0
_CACHE_MOST = 4096  # a crawler walking every code does not grow it for ever


@dataclass(frozen=True, slots=True)
class _Built:
    at: float
    status: int
    body: bytes
    headers: dict[str, str]


def routes() -> list[Route]:
    return [
        Route("/o/{code:str}.json", org_page, name="org_json"),
        Route("/o/{code:str}", org_page, name="org"),
    ]


async def org_page(request: Request) -> Response:
    texts = texts_of(request)
    cache = _cache_of(request)
    key = (request.url.path, request.url.query, texts.language)
    built = cache.get(key)
    if built is None or time.monotonic() - built.at >= CACHE_SECONDS:
        bot: App = request.app.state.bot
        data = await org_data(bot, request.path_params["code"], texts)
        if data is None:
            return not_found(request)
        response = page(request, "public/org.html", data, max_age=PUBLIC_MAX_AGE)
        if CACHE_SECONDS <= 0:
            return response
        if len(cache) >= _CACHE_MOST:
            cache.clear()
        built = _Built(
            time.monotonic(), response.status_code, bytes(response.body), dict(response.headers)
        )
        cache[key] = built
    return Response(built.body, status_code=built.status, headers=built.headers)


def _cache_of(request: Request) -> dict[tuple[str, str, str], _Built]:
    """The app's own cache (one per served app: two test sites never share one)."""
    cache = getattr(request.app.state, "org_pages", None)
    if cache is None:
        cache = request.app.state.org_pages = {}
    return cache


def telegram_username(bot: App) -> str | None:
    """The bot's @username once Telegram has answered getMe; None before, or without it."""
    if bot.telegram is None:
        return None
    try:
        return bot.telegram.bot.username or None
    except Exception:  # python-telegram-bot raises until the bot is initialised
        return None


async def org_data(bot: App, code: str, texts: Texts) -> dict[str, Any] | None:
    """Everything the page shows, as plain data (the JSON twin is this dict)."""
    queries = OrgPageQueries(bot.repos.db)
    unit = await bot.repos.orgs.by_code(code)
    if unit is None:
        return None
    now = bot.clock.now()
    zone = ZoneInfo(unit.timezone) if unit.timezone else bot.config.zone
    today = now.astimezone(zone).date()
    ancestors = await bot.repos.orgs.ancestors(unit.id)
    subtree = await bot.repos.orgs.subtree(unit.id)
    figures = await queries.figures([u.id for u in subtree], week_start(today), today)
    below = [u for u in subtree if u.parent_id == unit.id]
    language = texts.language
    return {
        "org": _unit(unit),
        "up": [_unit(u) for u in ancestors],
        "today": today,
        "week_from": week_start(today),
        "figures": _figures(_rolled(unit, subtree, figures)),
        "below": [{**_unit(u), **_figures(_rolled(u, subtree, figures))} for u in below],
        "commitments": [
            {
                "code": c.code,
                "member": c.author,  # a member's published commitment; None: the branch's own
                "body": c.body,
                "due_on": c.due_on,
                "status": _status(c.status, c.due_on, today),
                "done_on": c.done_at.astimezone(zone).date() if c.done_at else None,
            }
            for c in await queries.commitments(unit.id, today)
        ],
        **await _polls(bot, queries, unit, ancestors, subtree, now, zone, language),
        "notices": [
            {
                "code": f"G{n.id}",
                "open": n.ends_at > now,
                "last_day": n.last_day,
                "announced": n.announced,
                "candidates": [
                    {"name": c.name, "outcome": c.outcome, "reason": c.reason} for c in n.candidates
                ],
            }
            for n in await queries.notices(unit.id, now)
        ],
        "commentary": [
            {"by": r.by, "body": r.body, "day": r.at.astimezone(zone).date()}
            for r in await queries.commentary(unit.id)
        ],
        "briefings": [
            {"by": r.by, "body": r.body, "day": r.at.astimezone(zone).date()}
            for r in await queries.briefings(unit.id, [u.id for u in ancestors])
        ],
        "featured": [
            {
                "member": d.name,
                "branch": d.org_name,
                "branch_code": d.org_code,
                "category": texts.get(f"category.{d.category.value}") if d.category else None,
                "text": d.body,
                "day": d.local_day,
            }
            for d in await bot.repos.featured.featured([u.id for u in subtree], limit=MOST_FEATURED)
        ],
        "sms_number": _sms_number(bot),
        "minimum": MIN_BREAKDOWN,
    }


def _sms_number(bot: App) -> str | None:
    """The number villagers text, when the deployment has one ([twilio] from_number)."""
    return (bot.config.twilio.from_number or None) if bot.config.twilio.enabled else None


def _unit(unit: Org) -> dict[str, Any]:
    return {"code": unit.code, "name": unit.name, "kind": unit.kind, "theme": unit.theme}


def _rolled(unit: Org, subtree: list[Org], figures: dict[int, UnitFigures]) -> UnitFigures:
    """The unit's figures with everything below it added."""
    children: dict[int | None, list[Org]] = {}
    for u in subtree:
        children.setdefault(u.parent_id, []).append(u)
    total = UnitFigures()
    stack = [unit]
    while stack:
        u = stack.pop()
        own = figures.get(u.id, UnitFigures())
        total.members += own.members
        total.reporters += own.reporters
        total.deeds += own.deeds
        total.made += own.made
        total.done += own.done
        total.overdue += own.overdue
        stack.extend(children.get(u.id, []))
    return total


def _figures(f: UnitFigures) -> dict[str, Any]:
    return {
        "members": f.members,
        "reporters": f.reporters,
        "taking_part": share(f.reporters, f.members),  # whole percent
        "deeds": f.deeds,
        "commitments": f.made,
        "done": f.done,
        "overdue": f.overdue,
    }


def _status(status: str, due_on: date | None, today: date) -> str:
    if status == "done":
        return "done"
    return "overdue" if due_on is not None and due_on < today else "due"


async def _polls(
    bot: App,
    queries: OrgPageQueries,
    unit: Org,
    ancestors: list[Org],
    subtree: list[Org],
    now: datetime,
    zone: ZoneInfo,
    language: str,
) -> dict[str, Any]:
    """Open polls that reach the unit's people (its own and those above it), with how to
    answer and nothing of their figures; and the results of closed ones."""
    reached = await bot.repos.polls.reachable([unit.id], ["open", "closed"], now - RESULTS_FOR)
    names = {u.id: u.name for u in [unit, *ancestors, *subtree]}
    username = telegram_username(bot)
    number = _sms_number(bot)
    opened, closed = [], []
    for poll, _ in reached:
        if poll_state(poll, now) == "open":
            opened.append(poll)
        else:
            closed.append(poll)
    closed = sorted(closed, key=lambda p: (p.closes_at, p.id), reverse=True)[:MOST_RESULTS]
    tallies, sealed = await queries.published_tallies(closed)
    for poll in closed:
        if poll.id in sealed:  # closed by the clock, answers not yet published by the sweep
            tallies[poll.id] = await bot.repos.polls.tally(poll)
    return {
        "open_polls": [
            {
                "code": p.code,
                "by": names.get(p.org_id),
                "own": p.org_id == unit.id,
                "audience": p.audience,
                "question": p.question_in(language),
                "options": list(p.options_in(language)),
                "closes": p.closes_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                "sms": {"number": number, "example": f"{p.code} 1"},
                "telegram": f"https://t.me/{username}?start={unit.code}" if username else None,
            }
            for p in sorted(opened, key=lambda p: (p.closes_at, p.id))
        ],
        "results": [_result(p, tallies[p.id], unit, names, zone, language) for p in closed],
    }


def _result(
    poll: Poll, tally: Tally, unit: Org, names: dict[int, str], zone: ZoneInfo, language: str
) -> dict[str, Any]:
    """A closed poll's figures as the bot would say them: no breakdown under MIN_BREAKDOWN
    answers, a branch's own breakdown only where visible_branches allows it."""
    labels = poll.options_in(language)
    own = poll.org_id == unit.id
    branches = []
    for org in sorted(visible_branches(tally), key=lambda o: names.get(o, "")):
        if own or org == unit.id:
            counts = tally.by_org[org]
            branches.append(
                {
                    "name": names.get(org, "?"),
                    "answered": sum(counts),
                    "options": _options(labels, counts),
                }
            )
    shown = tally.total >= MIN_BREAKDOWN
    return {
        "code": poll.code,
        "by": names.get(poll.org_id),
        "own": own,
        "question": poll.question_in(language),
        "closed_on": poll.closes_at.astimezone(zone).date(),
        "answered": tally.total,
        "shown": shown,
        "options": _options(labels, tally.counts) if shown else [],
        # The option drawn strong: the most answered, the first of equals.
        "leading": tally.counts.index(max(tally.counts)) if shown else None,
        "branches": branches if shown else [],
    }


def _options(labels: tuple[str, ...], counts: tuple[int, ...]) -> list[dict[str, Any]]:
    return [
        {"label": label, "count": count, "share": percent}
        for label, count, percent in zip(labels, counts, shares(counts), strict=True)
    ]
