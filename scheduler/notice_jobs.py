"""The end of public notice periods: reminding the secretary to record the outcome."""

from __future__ import annotations

from datetime import datetime

from bot.messages import Outbound
from bot.texts import texts_for
from scheduler.jobs import JobContext
from storage.models import Role
from storage.outbox import Queued


async def sweep(ctx: JobContext, now: datetime) -> int:
    """Do what has come due by `now`; returns the number of messages queued. Safe to run
    again at once (idempotent) and from any process holding the scheduler lease."""
    repo = ctx.repos.public_notices
    queued = 0
    for notice in await repo.ended_unreminded(now):
        # The branch's secretaries, and whoever published it (a leader, for a branch
        # without a secretary).
        people = await repo.holders([notice.org_id], [Role.SECRETARY.value])
        if notice.created_by is not None and all(p.person_id != notice.created_by for p in people):
            people += await repo.reachable([notice.created_by])
        objections = await repo.objection_count(notice.id)
        items = []
        for person in people:
            texts = texts_for(person.language or ctx.default_language)
            body = texts.get(
                "public_notice.outcome.reminder",
                org=notice.org_name,
                code=notice.code,
                last_day=texts.get(
                    "public_notice.day", month=notice.last_day.month, day=notice.last_day.day
                ),
                count=objections,
            )
            # Keyed per notice and person: a sweep that stops before marking sends nothing twice.
            items.append(
                Queued(
                    f"notice_ended:{notice.id}:person:{person.person_id}",
                    Outbound(person.address, body),
                )
            )
        await ctx.repos.outbox.enqueue_many(items, now)
        await repo.mark_reminded(notice.id, now)
        queued += len(items)
    return queued
