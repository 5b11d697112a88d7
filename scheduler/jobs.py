"""What the scheduler does when a timer fires. Every job enqueues into the outbox under
idempotency keys and notes its run for its period, so a double fire or a catch-up after a
restart never sends twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import week_start
from bot.messages import Outbound
from bot.name_lists import fit_names
from bot.segments import count_segments
from bot.texts import Texts, texts_for
from scheduler.campaign import Campaign, Milestone
from storage.models import CATEGORIES, Role
from storage.outbox import Queued
from storage.reports import Digest, Recipient
from storage.repositories import Repositories

log = logging.getLogger(__name__)

REMINDER_MAX_SEGMENTS = 2


@dataclass(frozen=True, slots=True)
class JobContext:
    repos: Repositories
    zone: ZoneInfo
    default_language: str
    poke: Callable[[], None] = lambda: None  # wakes the dispatcher
    keep_messages: timedelta | None = None  # [storage] keep_messages; None keeps all


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


async def push_milestone(
    ctx: JobContext, campaign: Campaign, milestone: Milestone, now: datetime
) -> int:
    """Queue a milestone to its audience. Returns the number queued (0 if it already ran)."""
    key = f"milestone:{campaign.id}:{milestone.id}"
    if await ctx.repos.runs.has_run(key):
        return 0
    root = None
    if milestone.subtree:
        org = await ctx.repos.orgs.by_code(milestone.subtree)
        if org is None:
            log.error("milestone %s: no organisation %s; not sent", milestone.id, milestone.subtree)
            return 0
        root = org.id
    _, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="milestone",
        texts=milestone.text,
        default_language=ctx.default_language,
        now=now,
        root_org_id=root,
        roles=sorted(milestone.audience),
        source=key,
        key_prefix=key,
        urgent=milestone.urgent,
    )
    await ctx.repos.runs.record(key, now)
    ctx.poke()
    log.info("milestone %s queued for %d people", milestone.id, count)
    return count


def _name_list(
    names: list[str], template: str, fixed: dict[str, object], sep: str, more: str
) -> str:
    """As many names as fit the SMS budget, then "等"."""
    for shown in range(len(names), 0, -1):
        listed = sep.join(names[:shown]) + (more if shown < len(names) else "")
        text = template.format(names=listed, **fixed)
        if count_segments(text).segments <= REMINDER_MAX_SEGMENTS or shown == 1:
            return text
    return template.format(names="", **fixed)


async def weekly_reminder(ctx: JobContext, now: datetime) -> int:
    """Tell each branch secretary which members have not reported this week."""
    today = now.astimezone(ctx.zone).date()
    week = week_of(today)
    key = f"reminder:{week}"
    if await ctx.repos.runs.has_run(key):
        return 0
    items = []
    for secretary in await ctx.repos.reports.holders(Role.SECRETARY):
        if not await ctx.repos.reports.rank_and_file(secretary.org_id):
            continue  # no members on the roster yet: nobody to remind them of
        texts = texts_for(secretary.language or ctx.default_language)
        silent = await ctx.repos.reports.silent_members(secretary.org_id, week_start(today))
        if silent:
            body = _name_list(
                silent,
                texts.get("reminder.weekly"),
                {"branch": secretary.org_name, "count": len(silent)},
                texts.get("list.separator"),
                texts.get("reminder.more"),
            )
        else:
            body = texts.get("reminder.all_reported", branch=secretary.org_name)
        items.append(_to(secretary, f"{key}:org:{secretary.org_id}", body))
    await ctx.repos.outbox.enqueue_many(items, now)
    await ctx.repos.runs.record(key, now)
    ctx.poke()
    return len(items)


async def daily_nudge(ctx: JobContext, now: datetime) -> int:
    """Nudge members who have not reported today (unless they turned it off)."""
    today = now.astimezone(ctx.zone).date()
    key = f"nudge:{today.isoformat()}"
    if await ctx.repos.runs.has_run(key):
        return 0
    # "No report yet today" means nothing tomorrow: it expires at local midnight rather
    # than arriving the next morning after quiet hours or a long queue.
    midnight = datetime.combine(today + timedelta(days=1), time(0, 0), tzinfo=ctx.zone)
    items = [
        _to(
            member,
            key,
            texts_for(member.language or ctx.default_language).get("nudge.daily"),
            expires_at=midnight,
        )
        for member in await ctx.repos.reports.unreported_today(today)
    ]
    await ctx.repos.outbox.enqueue_many(items, now)
    await ctx.repos.runs.record(key, now)
    ctx.poke()
    return len(items)


async def weekly_digest(ctx: JobContext, now: datetime) -> int:
    """Last week's reports to each secretary (their branch) and leader (their subtree)."""
    today = now.astimezone(ctx.zone).date()
    this_monday = week_start(today)
    last_monday = this_monday - timedelta(days=7)
    key = f"digest:{week_of(last_monday)}"
    if await ctx.repos.runs.has_run(key):
        return 0
    # Commentary since the previous digest went out (or since last Monday, if it did not).
    previous = await ctx.repos.reports.ran_at(f"digest:{week_of(last_monday - timedelta(7))}")
    commentary_since = previous or datetime.combine(last_monday, time(0, 0), tzinfo=ctx.zone)
    # Who was on the roster when the week began could be expected to report in it: no
    # week before the deployment (or before a branch's roster) reproaches anyone.
    settled = datetime.combine(last_monday, time(0, 0), tzinfo=ctx.zone)
    items = []
    for role in (Role.SECRETARY, Role.LEADER):
        for person in await ctx.repos.reports.holders(role):
            subtree = role is Role.LEADER
            digest = await ctx.repos.reports.digest(
                person.org_id, subtree, last_monday, this_monday, settled_before=settled
            )
            texts = texts_for(person.language or ctx.default_language)
            extras = await _digest_extras(
                ctx, person, subtree, texts, this_monday, commentary_since, now
            )
            if digest.rank_and_file == 0:  # no members: no "0 of 0", only what else happened
                if not extras:
                    continue
                body = texts.get("digest.head", org=person.org_name)
            elif digest.total == 0:
                if digest.settled:
                    body = texts.get("digest.quiet", org=person.org_name, members=digest.settled)
                else:
                    body = texts.get("digest.first", org=person.org_name)
            else:
                body = _digest_body(texts, person.org_name, digest)
            if subtree:
                body += await _inactive_units(
                    ctx, person, texts, last_monday, settled, extras, body
                )
            items.append(_to(person, f"{key}:{role.value}:org:{person.org_id}", body + extras))
    await ctx.repos.outbox.enqueue_many(items, now)
    await ctx.repos.runs.record(key, now)
    ctx.poke()
    return len(items)


def _digest_body(texts: Texts, org: str, digest: Digest) -> str:
    sep = texts.get("list.separator")
    items_text = sep.join(
        texts.get(f"category.short.{c.value if c else 'none'}") + str(digest.by_category[c])
        for c in (*CATEGORIES, None)
        if digest.by_category.get(c)
    )
    top = texts.get("digest.top", names=sep.join(n for n, _ in digest.top))
    return texts.get(
        "digest.weekly",
        org=org,
        total=digest.total,
        items=items_text,
        reporters=digest.reporters,
        members=digest.members,
        top=top if digest.top else "",
    )


async def _inactive_units(
    ctx: JobContext,
    person: Recipient,
    texts: Texts,
    last_monday: date,
    settled: datetime,
    extras: str,
    body: str,
) -> str:
    """A leader's digest names the organisations below with no report last week (those
    whose members were on the roster all week), as many as the SMS budget allows."""
    count, names = await ctx.repos.reports.inactive_units(
        person.org_id, last_monday, last_monday + timedelta(days=7), settled
    )
    if not count:
        return ""
    return fit_names(
        body + extras,
        lambda listed: texts.get("digest.inactive", names=listed, count=count),
        names,
        count,
        texts.get("list.separator"),
        texts.get("week.more"),
        REMINDER_MAX_SEGMENTS,
    )


async def _digest_extras(
    ctx: JobContext,
    person: Recipient,
    subtree: bool,
    texts: Texts,
    this_monday: date,
    commentary_since: datetime,
    now: datetime,
) -> str:
    """Commitments due, done and overdue, villagers' messages of last week, and the
    commentary received since the last digest; nothing when there is nothing to show."""
    reports = ctx.repos.reports
    midnight = time(0, 0)
    figures = await reports.commitment_figures(
        person.org_id,
        subtree,
        this_monday,
        datetime.combine(this_monday - timedelta(days=7), midnight, tzinfo=ctx.zone),
        datetime.combine(this_monday, midnight, tzinfo=ctx.zone),
    )
    sep = texts.get("list.separator")
    extras = ""
    if figures.any:
        codes = sep.join(figures.overdue_codes)
        extras += texts.get(
            "commitment.digest",
            due=figures.due,
            done=figures.done,
            overdue=figures.overdue,
            codes=texts.get("commitment.digest_codes", codes=codes) if codes else "",
        )
    heard = await reports.public_messages_received(
        person.org_id,
        subtree,
        datetime.combine(this_monday - timedelta(days=7), midnight, tzinfo=ctx.zone),
        datetime.combine(this_monday, midnight, tzinfo=ctx.zone),
    )
    if heard:
        extras += texts.get("public_message.digest", count=heard)
    authors = await reports.commentary_received(person.org_id, subtree, commentary_since, now)
    if authors:
        names = sep.join(dict.fromkeys(authors))  # each author once, in order
        extras += texts.get("commentary.digest", count=len(authors), names=names)
    return extras


def _to(recipient: Recipient, key: str, body: str, expires_at: datetime | None = None) -> Queued:
    return Queued(
        f"{key}:person:{recipient.person_id}",
        Outbound(recipient.address, body),
        expires_at=expires_at,
    )
