"""Sweeps: what comes due by stored time rather than by the calendar (polls opening and
closing, commitments coming due, notice periods ending). The scheduler runs them every
`participation.sweep_seconds` and once at start; each is idempotent, so a double run or a
catch-up after downtime sends nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.clock import Clock
from scheduler import commitment_jobs, notice_jobs, poll_jobs, storage_jobs
from scheduler.jobs import JobContext

log = logging.getLogger(__name__)

Sweep = Callable[[JobContext, datetime], Awaitable[int]]

SWEEPS: list[tuple[str, Sweep]] = [
    ("polls", poll_jobs.sweep),
    ("commitments", commitment_jobs.sweep),
    ("public_notices", notice_jobs.sweep),
    ("storage", storage_jobs.sweep),  # partitions ahead and retention, once a day
]


async def run_sweeps(ctx: JobContext, now: datetime) -> int:
    """Run every sweep; one failing does not stop the others (it is logged and retried at
    the next sweep)."""
    queued = 0
    for name, sweep in SWEEPS:
        try:
            queued += await sweep(ctx, now)
        except Exception:
            log.exception("sweep %s failed; it runs again at the next sweep", name)
    if queued:
        ctx.poke()
    return queued


def before_each_message(ctx: JobContext, clock: Clock) -> Callable[[], Awaitable[int]]:
    """The sweeps for a process with no scheduler (`grassroots chat`): run before each
    message, so that what `serve` would have published by now (a commitment, a poll's
    opening or close, a notice period's end) is there, done by the same code, when the
    next message is read. Idempotent: a `serve` sweeping meanwhile sends nothing twice."""

    async def sweep() -> int:
        return await run_sweeps(ctx, clock.now())

    return sweep
