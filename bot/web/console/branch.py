"""The console's branch page, /console/o/<code>/branch: a branch secretary's week at a glance
and the buttons they would otherwise text.

What it shows: members with their reports and streaks; the branch's deeds (a page at a
time) with a button to feature one on the public pages; commitments; polls with the results
of closed ones (by the rules of bot/polls.py: nothing of an open poll but its turnout, no
breakdown under MIN_BREAKDOWN answers); comments with hide and publish; villagers' messages
(群众留言); recommendations, the shortlist, the public notice with its objections (who
objected only to those allowed SEE_OBJECTORS) and the outcomes.

Every form is a door onto the same function as its SMS command (handlers/...), called with
the signed-in person's Context: the console adds no rule of its own. A POST is checked for
its CSRF token, done, written to the audit log, and answered with a redirect back to the page
with a short note of what happened (POST/redirect/GET).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.clock import week_start
from bot.polls import MIN_BREAKDOWN, poll_state, shares, summary, turnout, when
from bot.privacy import mask_phone
from bot.texts import Texts
from bot.web import charts
from bot.web.console.access import (
    ConsoleUser,
    checked_form,
    context_for,
    csrf_input,
    org_for,
    require_user,
)
from bot.web.console.flash import read_flash, set_flash, take_flash
from bot.web.pages import link, not_found, render, texts_of
from handlers import comments, featured, public_messages
from handlers.base import Context
from handlers.permissions import Action, allowed
from storage import audit
from storage.branch_activity import BranchActivity
from storage.commitments import Commitment
from storage.models import Org, Role
from storage.public_notices import Notice

DEEDS_PER_PAGE = 10
POLLS_SHOWN = 10
COMMENTS_SHOWN = 50
MESSAGES_SHOWN = 20
COMMITMENTS_SHOWN = 30
K = "web.console.branch."  # this page's catalog keys (bot/texts/*/web_console_branch.toml)


def routes() -> list[BaseRoute]:
    return [
        Route("/console/o/{code}/branch", branch_page, methods=["GET"]),
        Route("/console/o/{code}/branch/deed", feature_deed, methods=["POST"]),
        Route("/console/o/{code}/branch/comment", moderate_comment, methods=["POST"]),
        Route("/console/o/{code}/branch/message", read_message, methods=["POST"]),
    ]


def _path(org: Org) -> str:
    return f"/console/o/{org.code}/branch"


def _number(raw: object, default: int = 0) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return default


def _page_number(raw: object) -> int:
    return max(1, min(_number(raw, 1), 100_000))


# --- the page ---------------------------------------------------------------------------


async def branch_page(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.BRANCH_WEEK, texts)
    if org is None:
        return not_found(request)
    ctx = context_for(request, user, texts)
    data = await branch_data(ctx, org, _page_number(request.query_params.get("deeds", 1)))
    data["pager"] = _pager(request, org, data["deeds_page"], data["deeds_pages"])
    data.update(
        user=user, csrf=csrf_input(user), path=_path(org), **_note(data, read_flash(request))
    )
    # A secretary's screen is not for shared caches, nor for the back button of a borrowed
    # phone.
    response = render(request, "console/branch.html", data, headers={"cache-control": "no-store"})
    take_flash(request, response)
    return response


def _note(data: dict[str, Any], flash: tuple[str, str] | None) -> dict[str, Any]:
    """Where the note of the last form goes: in the card whose button was pressed (the
    redirect scrolls there), or at the top of the page if that card is not on it."""
    if flash is None:
        return {"flash": None, "flash_at": None}
    note, at = flash
    cards = {f"deed-{d['id']}" for d in data["deeds"]}
    cards |= {f"comment-{c['code']}" for c in data["comments"]}
    cards |= {f"message-{m['id']}" for m in data["messages"]["list"]}
    return {"flash": note, "flash_at": at if at in cards else None}


def _pager(request: Request, org: Org, page: int, pages: int) -> dict[str, str | None]:
    def to(number: int) -> str:
        return link(request, _path(org), deeds=number if number > 1 else None) + "#deeds"

    return {
        "prev": to(page - 1) if page > 1 else None,
        "next": to(page + 1) if page < pages else None,
    }


async def branch_data(ctx: Context, org: Org, deeds_page: int = 1) -> dict[str, Any]:
    """Everything the page shows, as plain data (the template only lays it out)."""
    texts = ctx.texts
    zone = ZoneInfo(org.timezone) if org.timezone else ctx.settings.zone
    today = ctx.now().astimezone(zone).date()
    monday = week_start(today)
    activity = BranchActivity(ctx.repos.db)
    members = await activity.members(org.id, today, monday)
    deeds, deed_count = await activity.deeds(
        org.id, limit=DEEDS_PER_PAGE, offset=(deeds_page - 1) * DEEDS_PER_PAGE
    )
    pages = max(1, -(-deed_count // DEEDS_PER_PAGE))
    may_feature = await allowed(ctx, Action.FEATURE_DEED, org.id)
    return {
        "org": {"code": org.code, "name": org.name, "theme": org.theme},
        "week_of": _day(texts, monday),
        "members": [
            {
                "name": m.name,
                "secretary": m.role is Role.SECRETARY,
                "week": m.this_week,
                "total": m.total,
                "streak": m.streak_days,
            }
            for m in members
        ],
        "reporters": sum(1 for m in members if m.this_week),
        "deeds": [
            {
                "id": d.id,
                "name": d.name,
                "category": texts.get(
                    f"category.short.{d.category.value if d.category else 'none'}"
                ),
                "body": d.body,
                "photo": d.has_photo,
                "day": _day(texts, d.local_day),
                "featured": d.featured,
                # Offered where the rules may allow it; featured.feature decides and says why
                # not (a phone number, a villager's name...).
                "may_feature": may_feature
                and not (d.featured or d.declined)
                and bool(d.body.strip())
                and d.person_id != ctx.sender.person_id,
                "may_withdraw": may_feature and d.featured,
            }
            for d in deeds
        ],
        "deed_count": deed_count,
        "deeds_page": min(deeds_page, pages),
        "deeds_pages": pages,
        "commitments": await _commitments(ctx, org, today),
        "polls": await _polls(ctx, org, zone),
        "comments": await _comments(ctx, org),
        "messages": await _messages(ctx, org, zone),
        **await _recognition(ctx, org),
    }


def _day(texts: Texts, day: date) -> str:
    return texts.get(K + "day", month=day.month, day=day.day)


async def _commitments(ctx: Context, org: Org, today: date) -> dict[str, Any]:
    found, done = await ctx.repos.commitments.listing(
        org.id, ctx.sender.person_id, all_of_them=True, limit=COMMITMENTS_SHOWN
    )

    def state(c: Commitment) -> str:
        if c.due_on is not None and c.due_on < today:
            return "overdue"
        return "due" if c.due_on is not None else "open"

    return {
        "open": [
            {
                "code": c.code,
                "body": c.body,
                "author": c.author or ctx.texts.get(K + "commitments.branch"),
                "due": _day(ctx.texts, c.due_on) if c.due_on else None,
                "state": state(c),
                "progress": c.progress,
                "published": c.published_at is not None,
            }
            for c in found
        ],
        "done": done,
    }


async def _polls(ctx: Context, org: Org, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Each poll's state and turnout; results only of a closed one with enough answers, by
    the functions the SMS results use (bot/polls.py). No single answer is ever shown."""
    texts, now = ctx.texts, ctx.now()
    may_see = await allowed(ctx, Action.POLL_RESULTS, org.id)
    shown = []
    for poll_id in await BranchActivity(ctx.repos.db).poll_ids(org.id, POLLS_SHOWN):
        poll = await ctx.repos.polls.get(poll_id)
        if poll is None:
            continue
        state = poll_state(poll, now)
        entry: dict[str, Any] = {
            "code": poll.code,
            "question": poll.question_in(texts.language),
            "state": state,
            "state_text": texts.get(K + f"polls.state.{state}"),
            "opens": when(poll.opens_at, zone),
            "closes": when(poll.closes_at, zone),
            "turnout": None,
            "chart": None,
            "withheld": None,
        }
        if state in ("open", "closed") and may_see:
            tally = await ctx.repos.polls.tally(poll)
            entry["turnout"] = turnout(texts, poll, tally)
            if state == "closed" and tally.total >= MIN_BREAKDOWN:
                labels = poll.options_in(texts.language)
                percents = shares(tally.counts)
                top = max(range(len(percents)), key=lambda i: percents[i])
                entry["chart"] = charts.bars(
                    [
                        (label, p / 100, f"{p}% ({n})")
                        for label, p, n in zip(labels, percents, tally.counts, strict=True)
                    ],
                    texts.get(K + "polls.chart", code=poll.code),
                    highlight=top,
                )
            elif state == "closed":
                entry["withheld"] = summary(texts, poll, tally)  # says why, and the rule
        shown.append(entry)
    return shown


async def _comments(ctx: Context, org: Org) -> list[dict[str, Any]]:
    found = await ctx.repos.comments.for_orgs([org.id], limit=COMMENTS_SHOWN, include_hidden=True)
    polls = {}
    for c in found:
        if c.poll_id is not None and c.poll_id not in polls:
            polls[c.poll_id] = f"P{c.poll_id}"
    return [
        {
            "code": c.code,
            "body": c.body,
            "status": c.status,
            "status_text": ctx.texts.get(K + f"comments.status.{c.status}"),
            "day": _day(ctx.texts, c.day),
            "poll": polls.get(c.poll_id) if c.poll_id is not None else None,
        }
        for c in found
    ]


async def _messages(ctx: Context, org: Org, zone: ZoneInfo) -> dict[str, Any]:
    """Villagers' messages: not anonymous (they wrote so that the branch could answer), so
    the secretary sees the name and a masked number, as the 留言 list by SMS shows them."""
    found, total = await ctx.repos.public_messages.latest([org.id], limit=MESSAGES_SHOWN)
    shown = []
    for m in found:
        local = m.created_at.astimezone(zone)
        shown.append(
            {
                "id": m.id,
                "body": m.body or ctx.texts.get("public_message.photo"),
                "who": m.name or ctx.texts.get("public_message.someone"),
                "phone": mask_phone(m.phone) if m.phone else None,
                "when": local.strftime("%m-%d %H:%M"),
                "new": m.status == "new",
            }
        )
    return {"list": shown, "total": total}


async def _recognition(ctx: Context, org: Org) -> dict[str, Any]:
    """Recommendations of the round under way, its shortlist, and the latest public notice
    with its objections and outcomes."""
    round_no = await ctx.repos.recommendations.current_round(org.id)
    tally = await ctx.repos.recommendations.tally(org.id, round_no)
    shortlist = await ctx.repos.public_notices.candidates(org.id, round_no)
    notice = await ctx.repos.public_notices.latest(org.id)
    return {
        "round": round_no,
        "recommended": [{"name": t.name, "count": t.count} for t in tally],
        "shortlist": [c.name for c in shortlist],
        "notice": await _notice(ctx, notice) if notice else None,
    }


async def _notice(ctx: Context, notice: Notice) -> dict[str, Any]:
    texts, repo = ctx.texts, ctx.repos.public_notices
    found = await repo.objections(notice.id)
    # The one place the console reads objectors, and only for those the permissions module
    # allows (leaders above the branch; never its own secretary).
    objectors = {}
    if found and await allowed(ctx, Action.SEE_OBJECTORS, notice.org_id):
        objectors = await repo.objectors(notice.id)
    objections = []
    for objection in found:
        by = objectors.get(objection.id)
        who = None
        if by is not None:
            phone = by.address.value if by.address.kind.value == "sms" else by.phone
            who = texts.get(
                K + "notice.objector",
                name=by.name or "?",
                phone=phone or texts.get("public_notice.objection.no_phone"),
            )
        objections.append({"day": _day(texts, objection.day), "body": objection.body, "who": who})
    candidates = await repo.candidates(notice.org_id, notice.round)
    return {
        "code": notice.code,
        "published": _day(texts, notice.published_at.date()),
        "last_day": _day(texts, notice.last_day),
        "open": notice.is_open(ctx.now()),
        "announced": notice.announced_at is not None,
        "candidates": [
            {
                "name": c.name,
                "outcome": texts.get(f"public_notice.outcome.word.{c.outcome.value}")
                if c.outcome
                else texts.get(K + "notice.undecided"),
                "reason": c.reason,
            }
            for c in candidates
        ],
        "objections": objections,
    }


# --- the forms ------------------------------------------------------------------------


async def _posted(request: Request) -> tuple[ConsoleUser, Texts, Org, Context, Any] | Response:
    """The signed-in user, the organisation of the URL if they may run it (else the same
    404 as the page), their Context and the CSRF-checked form."""
    user = await require_user(request)
    form = await checked_form(request, user)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.BRANCH_WEEK, texts)
    if org is None:
        return not_found(request)
    return user, texts, org, context_for(request, user, texts), form


def _back(request: Request, org: Org, form: Any, anchor: str, note: str) -> Response:
    """Back to the page the form was on (its page of deeds, its language), with a note."""
    page = _page_number(form.get("deeds", 1))
    target = link(request, _path(org), deeds=page if page > 1 else None) + f"#{anchor}"
    response = RedirectResponse(target, status_code=303)
    set_flash(request, response, note, anchor)
    return response


async def feature_deed(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    deed_id = _number(form.get("deed", 0))
    do = "withdraw" if form.get("do") == "withdraw" else "feature"
    if do == "withdraw":
        result = await featured.withdraw(ctx, deed_id)
    else:
        result = await featured.feature(ctx, deed_id)
    await _audit(ctx, user, org, f"deed.{do}", str(deed_id), result.outcome.value)
    return _back(request, org, form, f"deed-{deed_id}", featured.render(texts, result))


async def moderate_comment(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    status = form.get("status")
    code = str(form.get("comment", ""))
    if status not in comments.DONE_TEXT or not code.strip():
        return _back(request, org, form, "comments", texts.get("comment.code_usage"))
    anchor = f"comment-{code.strip().upper()}"
    outcome, code = await comments.moderate(ctx, code, str(status))
    if outcome is comments.Moderated.DONE:
        note = texts.get(comments.DONE_TEXT[str(status)], code=code)
    else:
        note = texts.get("comment.unknown", code=code)
    verb = "hide" if status == "hidden" else "publish"
    await _audit(ctx, user, org, f"comment.{verb}", code, outcome.value)
    return _back(request, org, form, anchor, note)


async def read_message(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    message_id = _number(form.get("message", 0))
    done = await public_messages.mark_read(ctx, message_id)
    note = texts.get(K + ("messages.marked" if done else "messages.unknown"))
    outcome = "done" if done else "unknown"
    await _audit(ctx, user, org, "public_message.read", str(message_id), outcome)
    return _back(request, org, form, f"message-{message_id}", note)


async def _audit(
    ctx: Context, user: ConsoleUser, org: Org, action: str, target: str, outcome: str
) -> None:
    """Every form of this page ends here: who, what, when, on which organisation (the page's;
    the service checked the object's own). The detail names the object and what came of it,
    never what anyone wrote."""
    await audit.record(
        ctx.repos.db,
        person_id=user.person_id,
        action=action,
        org_id=org.id,
        detail=f"{target} {outcome}",
        at=ctx.now(),
    )
