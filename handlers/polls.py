"""Polls (评议 / PY / POLL): created by secretaries, answered by replying a digit or a word.

A secretary (or a leader, over their subtree) writes `评议 question/option/option`; the bot
answers with a preview (who it reaches on each channel, what an SMS costs) and waits for
确认. Villagers answer with the interceptor below, which sees text no keyword claimed
before the default action; a member's free text that is not an answer stays a report.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages import Choice
from bot.normalize import has_words
from bot.polls import (
    MAX_OPTIONS,
    MIN_BREAKDOWN,
    ask_text,
    choices_for,
    create_polls,
    looks_like_answer,
    open_poll,
    parse_answer,
    parse_code,
    poll_state,
    reach_and_cost,
    summary,
    turnout,
    visible_branches,
    voter_hash,
    when,
)
from bot.reach import by_sms, chats_text
from bot.segments import count_segments
from bot.texts import LANGUAGES, Texts, texts_for
from handlers.base import Context, Interceptor, Message, Resumer, Route
from handlers.confirm import CANCEL_WORDS, CONFIRM_WORDS
from handlers.limits import take
from handlers.permissions import Action, check, require_home
from storage.commitments import Commitment
from storage.models import Grant, Org, Role
from storage.polls import AUDIENCE_ROLES, Cast, NewComment, Poll, Tally

# Tags that choose who a poll asks: "评议 #党员 ..." asks the members.
_AUDIENCE_TAGS = {
    "#群众": "public",
    "#public": "public",
    "#党员": "members",
    "#members": "members",
    "#全体": "all",
    "#all": "all",
}
_FIVE_GOODS = {"五个好", "5g", "wgh", "five goods"}
_CONFIRM, _CANCEL = CONFIRM_WORDS, CANCEL_WORDS  # the words every 确认 takes
# A first word that may name what the poll is about: an organisation code or C3.
_WORD = re.compile(r"([a-z][a-z0-9]*)(?=\s|$)")
_COMMITMENT = re.compile(r"c(\d+)")
COMMITMENT_QUOTE = 24  # characters of a commitment quoted in its satisfaction poll
_OPTION_SPLIT = re.compile(r"\s*(?:\n|/|／)\s*")
_VOTER_ROLES = (Role.PUBLIC, Role.MEMBER, Role.SECRETARY)
RECENTLY_CLOSED = timedelta(days=7)
ECHO_MIN_LABEL = 4  # an option is cut no shorter than this to keep its receipt one SMS


def _audience(ctx: Context, audience: str) -> str:
    return ctx.texts.get(f"poll.audience.{audience}")


async def create(msg: Message, ctx: Context) -> None:
    folded = msg.text.folded  # "＃党员" from a phone's Chinese keyboard folds to "#党员"
    at = msg.args_at
    audience = "public"
    for tag, value in _AUDIENCE_TAGS.items():
        if folded.startswith(tag, at):
            audience, at = value, _skip_space(folded, at + len(tag))
            break
    # About what, where: a commitment (C3), a named organisation (a leader's branch), or
    # the sender's own.
    commitment: Commitment | None = None
    org: Org | None = None
    word = _WORD.match(folded, at)
    if word is not None:
        if numbered := _COMMITMENT.fullmatch(word[1]):
            commitment = await ctx.repos.commitments.get(int(numbered[1]))
            if commitment is None or commitment.published_at is None:
                ctx.reply("poll.no_commitment", code=word[1].upper())
                return
            org = await ctx.repos.orgs.by_id(commitment.org_id)
        else:
            org = await ctx.repos.orgs.by_code(word[1].upper())
        if org is not None:
            at = _skip_space(folded, word.end())
    if org is None:
        grant = require_home(ctx, Action.CREATE_POLL)
        if grant is None:
            return
        org = await ctx.repos.orgs.by_id(grant.org_id)
        assert org is not None
    elif not await check(ctx, Action.CREATE_POLL, org.id, org.name):
        return
    now = ctx.now()
    question: str | None = None
    question_en: str | None = None
    options: list[str] = []
    if commitment is not None:
        question, question_en = (
            _about_commitment(texts_for(lang), commitment, org.name) for lang in LANGUAGES
        )
    elif folded[at:].strip() not in _FIVE_GOODS:
        text = msg.text.original_from(at) if at < len(folded) else ""
        parts = [p for p in _OPTION_SPLIT.split(text) if p]
        if not parts or not has_words(parts[0]):
            ctx.reply("poll.empty")
            return
        question, options = parts[0], parts[1:]
        if options and not 2 <= len(options) <= MAX_OPTIONS:
            ctx.reply("poll.options_count", max=MAX_OPTIONS)
            return
    polls = await create_polls(
        ctx.repos,
        org_id=org.id,
        question=question,
        question_en=question_en,
        subject=commitment.subject if commitment else None,
        options=options,
        audience=audience,
        opens_at=now,
        closes_at=now + timedelta(days=ctx.settings.poll_days),
        status="draft",
        now=now,
        created_by=ctx.sender.person_id,
        source=f"message:{msg.id}",
    )
    zone = ZoneInfo(org.timezone) if org.timezone else ctx.settings.zone
    await _preview(ctx, org, zone, polls)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def _about_commitment(texts: Texts, commitment: Commitment, org_name: str) -> str:
    body = commitment.body
    if len(body) > COMMITMENT_QUOTE:  # the question must still fit a short SMS
        body = body[: COMMITMENT_QUOTE - 1] + "…"
    return texts.get(
        "poll.on_commitment",
        who=commitment.author or org_name,
        code=commitment.code,
        body=body,
    )


async def _preview(ctx: Context, org: Org, zone: ZoneInfo, polls: list[Poll]) -> None:
    first = polls[0]
    reach, segments = await reach_and_cost(ctx.repos, first, org.name, zone, ctx.settings.language)
    people = sum(reach.values())
    audience = _audience(ctx, first.audience)
    if people == 0:
        for poll in polls:
            await ctx.repos.polls.move(poll.id, "draft", "cancelled")
        ctx.reply("poll.nobody", org=org.name, audience=audience)
        return
    params: dict[str, object] = dict(
        audience=audience,
        sms=by_sms(reach),
        chats=chats_text(ctx.texts, reach),
        segments=segments,
        closes=when(first.closes_at, zone),
    )
    buttons = (
        Choice(ctx.texts.get("poll.confirm"), ctx.texts.get("poll.confirm")),
        Choice(ctx.texts.get("poll.cancel"), ctx.texts.get("poll.cancel")),
    )
    if len(polls) > 1:
        text = ctx.texts.get(
            "poll.series_preview", first=first.code, count=len(polls), people=people, **params
        )
    else:
        text = ctx.texts.get(
            "poll.preview",
            code=first.code,
            question=first.question_in(ctx.texts.language),
            options="/".join(first.options_in(ctx.texts.language)),
            count=people,
            **params,
        )
    ctx.say(text, choices=buttons)
    await ctx.ask_back("poll.confirm", {"polls": [p.id for p in polls]})


async def confirm(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """The secretary's answer to a preview: 确认 sends the poll, 取消 drops it."""
    word = msg.text.folded.strip(" 。.!！")
    if word not in _CONFIRM and word not in _CANCEL:
        return False  # anything else goes its normal way; the draft is left unsent
    ids = [int(i) for i in payload.get("polls", [])]
    polls = [p for p in [await ctx.repos.polls.get(i) for i in ids] if p is not None]
    if not polls:
        return False
    first = polls[0]
    if first.created_by != ctx.sender.person_id:
        ctx.reply("poll.not_yours")
        return True
    if word in _CANCEL:
        await drop_drafts(ctx, polls)
        ctx.reply("poll.cancelled", code=first.code)
        return True
    count = await send_drafts(ctx, polls, ctx.now())
    ctx.reply("poll.opened", code=first.code, count=count)
    return True


async def drop_drafts(ctx: Context, polls: list[Poll]) -> None:
    """A previewed poll the secretary does not send (取消 by SMS, the console's cancel)."""
    for poll in polls:
        await ctx.repos.polls.move(poll.id, "draft", "cancelled")


async def send_drafts(ctx: Context, polls: list[Poll], opens_at: datetime) -> int:
    """Confirm previewed polls (确认 by SMS, the console's confirm): open them now, or
    schedule them for `opens_at` (the scheduler opens them then). The people reached now."""
    now = ctx.now()
    opens_at = max(opens_at, now)
    count = 0
    for poll in polls:
        await ctx.repos.polls.move(poll.id, "draft", "scheduled", opens_at=opens_at)
        scheduled = await ctx.repos.polls.get(poll.id)
        assert scheduled is not None
        if scheduled.status == "scheduled" and opens_at <= now:
            reached = await open_poll(
                ctx.repos, scheduled, now, ctx.settings.zone, ctx.settings.language
            )
            count = count or reached
    return count


async def results(msg: Message, ctx: Context) -> None:
    """结果 P7: a secretary's or leader's view, per branch within a subtree."""
    code, _ = parse_code(msg.text.folded[msg.args_at :])
    poll = await ctx.repos.polls.get(code) if code is not None else None
    if code is None:
        ctx.reply("poll.results_usage")
        return
    if poll is None or poll.status in ("draft", "cancelled"):
        ctx.reply("poll.unknown", code=f"P{code}")
        return
    org = await ctx.repos.orgs.by_id(poll.org_id)
    if not await check(ctx, Action.POLL_RESULTS, poll.org_id, org.name if org else None):
        return
    tally = await ctx.repos.polls.tally(poll)
    if poll_state(poll, ctx.now()) == "open":
        # Figures asked for before and after one person answers would show their answer.
        ctx.reply(
            "poll.results_open",
            code=poll.code,
            turnout=turnout(ctx.texts, poll, tally),
            closes=when(poll.closes_at, ctx.zone_of(None)),
        )
        return
    text = ctx.texts.get(
        "poll.results",
        code=poll.code,
        summary=summary(ctx.texts, poll, tally),
        turnout=turnout(ctx.texts, poll, tally),
    )
    shown = visible_branches(tally)
    for org_id, counts in sorted(tally.by_org.items()):
        branch = await ctx.repos.orgs.by_id(org_id)
        part = Tally(sum(counts), counts, {}, sum(counts))
        if org_id in shown or part.total < MIN_BREAKDOWN:
            figures = summary(ctx.texts, poll, part)
        else:  # enough answers, but shown it would give a smaller branch's away
            figures = ctx.texts.get("poll.withheld", answered=part.total)
        text += ctx.texts.get(
            "poll.results_org", org=branch.name if branch else org_id, summary=figures
        )
        text += ctx.texts.get("poll.separator")
    ctx.say(text)


async def answer(msg: Message, ctx: Context) -> bool:
    """Take a reply as an answer to an open poll the sender is asked, if it is one.
    Whatever is taken as an answer leaves the message log as a counted one does, counted or
    not (asked which poll, not understood, late, locked, not asked of the sender): its text
    with the sender's number would tell what they think of the poll's subject."""
    marker = await _claim(msg, ctx)
    if marker is None:
        return False
    if marker != _COUNTED:
        await ctx.repos.polls.forget(msg.id, marker)
    return True


# What _claim returns for an answer that was counted: `cast` took its text out of the log in
# the ballot's own transaction, so no second transaction (and commit) is needed.
_COUNTED = ""


def _marker(*polls: Poll | int) -> str:
    """What the log keeps of an answer: the code(s) of the poll(s) it was taken for."""
    return "[" + " ".join(p.code if isinstance(p, Poll) else f"P{p}" for p in polls) + "]"


async def _claim(msg: Message, ctx: Context) -> str | None:
    """Handle a reply that is an answer: the log marker for it (_COUNTED when the ballot's
    transaction already redacted it), or None if it is not one."""
    person = ctx.sender.person_id
    voters = [g for g in ctx.sender.grants if g.role in _VOTER_ROLES]
    if person is None or not voters:
        return None
    folded = msg.text.folded
    code, at = parse_code(folded)
    if code is None and not await ctx.repos.polls.any_open():
        return await _late(msg, ctx, voters)
    reachable = await ctx.repos.polls.reachable([g.org_id for g in voters], ["open"])
    now = ctx.now()
    # A poll past its closing time is closed, whether or not the sweep has come by yet.
    eligible = {
        poll.id: (poll, via)
        for poll, via in reachable
        if _asked(poll, via, voters) and poll_state(poll, now) == "open"
    }
    if code is not None:
        if code not in eligible:
            return await _not_open(ctx, code, voters)
        poll, via = eligible[code]
    else:
        current = await _current(ctx, [pv for pv in eligible.values()], person)
        if not current:
            return await _late(msg, ctx, voters)
        if len(current) > 1:
            if ctx.sender.is_member and parse_answer(folded, at, current[0][0]) is None:
                return None  # a member's report
            codes = ctx.texts.get("poll.code_sep").join(p.code for p, _ in current)
            ctx.reply(
                "poll.which",
                count=len(current),
                codes=codes,
                example=f"{current[0][0].code} 1",
            )
            return _marker(*(p for p, _ in current))
        poll, via = current[0]
    parsed = parse_answer(folded, at, poll)
    if parsed is None:
        if code is None and ctx.sender.is_member:
            return None  # a member's report, not an answer
        ctx.handled_as = "poll.unmatched"
        await _ask(ctx, poll, prefix=ctx.texts.get("poll.again"))
        return _marker(poll)
    result = await _cast(msg, ctx, poll, via, person, parsed.choice, parsed.comment_at)
    return _marker(poll) if result in (Cast.LOCKED, Cast.CLOSED) else _COUNTED


def _asked(poll: Poll, via: int, grants: list[Grant]) -> bool:
    roles = AUDIENCE_ROLES[poll.audience]
    return any(g.org_id == via and g.role in roles for g in grants)


async def _current(
    ctx: Context, eligible: list[tuple[Poll, int]], person: int
) -> list[tuple[Poll, int]]:
    """The polls a reply without a code could answer. Those still waiting for this person
    (a lone poll not yet answered; of a template's questions, the first not answered, the
    one just sent); only if none waits, the lone polls answered already (a change)."""
    if len(eligible) == 1 and eligible[0][0].series is None:
        return eligible  # a lone poll is the one, answered before or not: nothing to read
    waiting: list[tuple[Poll, int]] = []
    answered: list[tuple[Poll, int]] = []
    series_seen: set[str] = set()
    for poll, via in sorted(eligible, key=lambda pv: (pv[0].series or "", pv[0].position)):
        if poll.series is not None and poll.series in series_seen:
            continue
        voter = voter_hash(ctx.settings.secret_key, poll.id, person)
        if not await ctx.repos.polls.has_ballot(poll.id, voter):
            if poll.series is not None:
                series_seen.add(poll.series)
            waiting.append((poll, via))
        elif poll.series is None:
            answered.append((poll, via))
    return sorted(waiting or answered, key=lambda pv: pv[0].id)


async def _late(msg: Message, ctx: Context, voters: list[Grant]) -> str | None:
    """An answer to a poll that has closed: say so, rather than take it as anything else.
    A member's text with more than an answer in it stays a report."""
    folded = msg.text.folded
    if ctx.sender.is_member and not looks_like_answer(folded):
        return None  # a member's report (a villager's "满意" may still be a late answer)
    since = ctx.now() - RECENTLY_CLOSED
    now = ctx.now()
    closed = [
        (p, via)
        for p, via in await ctx.repos.polls.reachable(
            [g.org_id for g in voters], ["closed", "open"], closed_since=since
        )
        if _asked(p, via, voters) and poll_state(p, now) == "closed"
    ]
    if not closed:
        return None
    code, at = parse_code(folded)
    poll = next((p for p, _ in closed if p.id == code), closed[-1][0])
    parsed = parse_answer(folded, at, poll)
    if parsed is None or (ctx.sender.is_member and parsed.comment_at < len(folded)):
        return None
    ctx.reply("poll.closed", code=poll.code, closed=when(poll.closes_at, ctx.settings.zone))
    return _marker(poll)


async def _not_open(ctx: Context, code: int, voters: list[Grant]) -> str:
    poll = await ctx.repos.polls.get(code)
    if poll is None or poll.status in ("draft", "scheduled", "cancelled"):
        ctx.reply("poll.unknown", code=f"P{code}")
        return _marker(code)
    asked = any(
        _asked(p, via, voters)
        for p, via in await ctx.repos.polls.reachable([g.org_id for g in voters], [poll.status])
        if p.id == poll.id
    )
    org = await ctx.repos.orgs.by_id(poll.org_id)
    if poll_state(poll, ctx.now()) == "closed" and asked:
        ctx.reply("poll.closed", code=poll.code, closed=when(poll.closes_at, ctx.settings.zone))
    else:
        ctx.reply(
            "poll.not_audience",
            code=poll.code,
            org=org.name if org else "",
            audience=_audience(ctx, poll.audience),
        )
    return _marker(poll)


async def _ask(ctx: Context, poll: Poll, prefix: str = "") -> None:
    """The poll's question and options again (a button each on Telegram)."""
    org = await ctx.repos.orgs.by_id(poll.org_id)
    body = prefix + ask_text(ctx.texts, poll, org.name if org else "", ctx.settings.zone)
    ctx.say(body, choices=choices_for(poll, ctx.texts.language))


async def _cast(
    msg: Message, ctx: Context, poll: Poll, via: int, person: int, choice: int, comment_at: int
) -> Cast:
    comment_text = msg.text.original_from(comment_at) if comment_at < len(msg.text.folded) else ""
    comment: NewComment | None = None
    over_limit = False
    if has_words(comment_text):
        recent = await ctx.repos.comments.recent_from(ctx.sender, ctx.now())
        if recent >= ctx.settings.comments_per_hour or not await take(ctx, "comment"):
            over_limit = True
        else:
            comment = NewComment(
                org_id=via,
                body=comment_text,
                held=held(ctx, comment_text),
                day=ctx.now().astimezone(ctx.settings.zone).date(),
            )
    result = await ctx.repos.polls.cast(
        poll,
        voter=voter_hash(ctx.settings.secret_key, poll.id, person),
        person_id=person,
        choice=choice,
        voter_org=via if via != poll.org_id else None,
        message_id=msg.id,
        marker=_marker(poll),
        comment=comment,
    )
    if comment is not None and result in (Cast.NEW, Cast.CHANGED):
        ctx.handled_as = "poll.comment"
    else:
        ctx.handled_as = "poll.answer"
    if result is Cast.CLOSED:  # closed since the open polls were read
        ctx.reply("poll.closed", code=poll.code, closed=when(poll.closes_at, ctx.settings.zone))
        return result
    if result is Cast.LOCKED:
        ctx.reply("poll.locked", code=poll.code)
        return result
    # The reply echoes the option read, so a villager can check it; a stored copy of the
    # reply (the log, the outbox) must not pair them with it, so it says only the code.
    new = result is Cast.NEW
    tail = ""
    if comment is not None:
        tail = ctx.texts.get("poll.comment_kept")
    elif over_limit:
        tail = ctx.texts.get("poll.comment_limit", limit=ctx.settings.comments_per_hour)
    plain = ctx.texts.get("poll.thanks" if new else "poll.changed", code=poll.code)
    label = poll.options_in(ctx.texts.language)[choice]
    ctx.say(
        _echo(ctx, "poll.echo.new" if new else "poll.echo.changed", poll, label, tail),
        redacted=plain + tail,
    )
    if poll.series is not None:  # the next of a template's questions, in turn
        for later in await ctx.repos.polls.series(poll.series):
            if later.position <= poll.position or later.status != "open":
                continue
            voter = voter_hash(ctx.settings.secret_key, later.id, person)
            if not await ctx.repos.polls.has_ballot(later.id, voter):
                await _ask(ctx, later)
                break
    return result


def _echo(ctx: Context, key: str, poll: Poll, label: str, tail: str) -> str:
    """The receipt naming the option read, in one SMS: a long option is cut short."""
    text = ctx.texts.get(key, code=poll.code, option=label) + tail
    while count_segments(text).segments > 1 and len(label) > ECHO_MIN_LABEL:
        label = label[: len(label) - 2] + "…"
        text = ctx.texts.get(key, code=poll.code, option=label) + tail
    return text


def held(ctx: Context, text: str) -> bool:
    folded = text.casefold()
    return any(word.casefold() in folded for word in ctx.settings.hold_words if word)


ROUTES: list[Route] = [
    Route("poll.create", create, zh=("评议", "py"), en=("poll",), touching=False),
    # Not touching: "结果很好..." is a report; a code may touch ("结果P7").
    Route("poll.results", results, zh=("结果", "jg"), en=("results",), touching=False),
]
# Hooks for text no keyword claimed (see Router): answers this module waits for.
INTERCEPTORS: list[tuple[str, Interceptor]] = [("poll.answer", answer)]
RESUMERS: dict[str, Resumer] = {"poll.confirm": confirm}
