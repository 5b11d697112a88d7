"""What the console's branch page shows (bot/web/console/branch.py), as plain data: the
template only lays it out. Each part is read with the signed-in person's Context and by the
rules of the SMS commands that show the same (bot/polls.py for results; objectors only
through permissions)."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import week_start
from bot.polls import MIN_BREAKDOWN, poll_state, shares, summary, turnout, when
from bot.privacy import mask_phone
from bot.texts import Texts
from bot.web import charts
from handlers.base import Context
from handlers.permissions import Action, allowed
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
    if deeds_page > pages:  # a page past the end (deeds are never deleted: a typed URL)
        deeds_page = pages
        deeds, deed_count = await activity.deeds(
            org.id, limit=DEEDS_PER_PAGE, offset=(pages - 1) * DEEDS_PER_PAGE
        )
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
        "deeds_page": deeds_page,
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
    return [
        {
            "code": c.code,
            "body": c.body,
            "status": c.status,
            "status_text": ctx.texts.get(K + f"comments.status.{c.status}"),
            "day": _day(ctx.texts, c.day),
            "poll": f"P{c.poll_id}" if c.poll_id is not None else None,
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
