"""Opening and closing polls when their time comes, and sending results."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.polls import close_poll, open_poll
from scheduler.jobs import JobContext

log = logging.getLogger(__name__)


async def sweep(ctx: JobContext, now: datetime) -> int:
    """Open scheduled polls whose time has come; close open polls whose time is up and
    send their results (also results a crash left unsent). Returns messages queued."""
    opening, closing = await ctx.repos.polls.due(now)
    queued = 0
    for poll in opening:
        queued += await open_poll(ctx.repos, poll, now, ctx.zone, ctx.default_language)
        log.info("poll %s opened", poll.code)
    for poll in closing:
        queued += await close_poll(ctx.repos, poll, now, ctx.zone, ctx.default_language)
        log.info("poll %s closed; results queued", poll.code)
    # Comments waiting sealed go out together once enough wait (storage/comments.py).
    await ctx.repos.comments.publish()
    return queued
