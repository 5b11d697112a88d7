"""Commitments by stored time: publication to the branch's public when their time comes,
a reminder a few days before the due date, and a prompt on the day to report completion.

Reminders and prompts go out in the morning of the branch's time zone. Every message has an
idempotency key and each commitment notes what it was sent, so a double run sends nothing
twice and a run after downtime catches up (a prompt more than a week late is dropped).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.commitment_texts import date_text, excerpt, fit, item_text
from bot.messages import Outbound
from bot.texts import LANGUAGES, texts_for
from scheduler.jobs import JobContext
from storage.commitments import Batch, Due
from storage.models import Role
from storage.outbox import Queued

REMIND_DAYS_AHEAD = 3
MORNING = time(9, 0)  # local: reminders and prompts wait for it
PROMPT_GRACE = timedelta(days=7)  # a prompt later than this says nothing useful
EXCERPT_CHARS = 12  # of the commitment, so that a reminder stays one Chinese SMS


async def sweep(ctx: JobContext, now: datetime) -> int:
    """Do what has come due by `now`; returns the number of messages queued. Safe to run
    again at once (idempotent) and from any process holding the scheduler lease."""
    queued = 0
    for batch in await ctx.repos.commitments.claim_due(now):
        queued += await publish(ctx, batch, now)
    queued += await remind(ctx, now)
    return queued


async def publish(ctx: JobContext, batch: Batch, now: datetime) -> int:
    """One publication of a branch's commitments to its public."""
    today = now.astimezone(ctx.zone).date()
    texts = {}
    for language in LANGUAGES:
        t = texts_for(language)
        lines = [item_text(t, c, today) for c in batch.items]
        texts[language] = fit(t, "commitment.published", lines, org=batch.org_name)
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="commitment",
        texts=texts,
        default_language=ctx.default_language,
        now=now,
        root_org_id=batch.org_id,
        roles=(Role.PUBLIC,),
        source=batch.key,
        key_prefix=batch.key,
        role=Role.PUBLIC.value,
        include_subtree=False,
    )
    await ctx.repos.commitments.mark_queued(batch.key, broadcast)
    return count


async def remind(ctx: JobContext, now: datetime) -> int:
    """Reminders before the due date and prompts on it, for whatever is owed by `now`."""
    # Zones differ by less than a day: a day's margin finds everything owed anywhere.
    horizon = now.date() + timedelta(days=REMIND_DAYS_AHEAD + 1)
    queued = 0
    for due in await ctx.repos.commitments.coming_due(horizon):
        c = due.commitment
        assert c.due_on is not None
        zone = ZoneInfo(due.org_timezone) if due.org_timezone else ctx.zone
        prompt_at = datetime.combine(c.due_on, MORNING, tzinfo=zone)
        remind_at = datetime.combine(c.due_on - timedelta(days=REMIND_DAYS_AHEAD), MORNING, zone)
        if not due.prompted and now >= prompt_at:
            if now < prompt_at + PROMPT_GRACE:
                queued += await _tell(ctx, due, "prompt", now, zone)
            await ctx.repos.commitments.mark(c.id, "prompted", now)
            await ctx.repos.commitments.mark(c.id, "reminded", now)  # no reminder after it
        elif not due.reminded and now >= remind_at:
            # Made after its reminder time (due in under three days): it is fresh in mind.
            if c.created_at < remind_at:
                queued += await _tell(ctx, due, "reminder", now, zone)
            await ctx.repos.commitments.mark(c.id, "reminded", now)
    return queued


async def _tell(ctx: JobContext, due: Due, what: str, now: datetime, zone: ZoneInfo) -> int:
    c = due.commitment
    assert c.due_on is not None
    today: date = now.astimezone(zone).date()
    key = f"commitment.{what}_branch" if c.is_branch else f"commitment.{what}"
    items = []
    for person in await ctx.repos.commitments.answerable(c):
        texts = texts_for(person.language or ctx.default_language)
        body = texts.get(
            key,
            code=c.code,
            org=due.org_name,
            body=excerpt(texts, c.body, EXCERPT_CHARS),
            date=date_text(texts, c.due_on, today),
        )
        items.append(
            Queued(
                f"commitment:{c.id}:{what}:person:{person.person_id}",
                Outbound(person.address, body),
            )
        )
    await ctx.repos.outbox.enqueue_many(items, now)
    return len(items)
