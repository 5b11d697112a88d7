"""The data that grows, looked after once a day by the active scheduler: next month's
partitions created ahead (PostgreSQL) and retention applied (`[storage] keep_messages`).
A sweep, so it runs at start and catches up after downtime; noted per UTC day in job_runs,
so several sweeps a day, or several processes, do it once.

With retention on, the sweep only starts the work, in the background: the first retention of
a database that has grown for years may take minutes, and a sweep runs at start-up, before
`serve` answers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from scheduler.jobs import JobContext
from storage import partitions, retention
from storage.engine import DatabaseClosed

log = logging.getLogger(__name__)

_running: dict[int, asyncio.Task[bool]] = {}  # per database: one upkeep at a time


async def sweep(ctx: JobContext, now: datetime) -> int:
    key = id(ctx.repos.db)
    task = _running.get(key)
    if task is not None and not task.done():
        return 0
    if await ctx.repos.runs.has_run(_day(now)):  # the common case: one read, nothing started
        return 0
    if ctx.keep_messages is None:  # months ahead only: a few reads, done here
        await upkeep(ctx, now)
        return 0
    task = asyncio.create_task(_background(ctx, now), name="storage upkeep")
    _running[key] = task
    task.add_done_callback(lambda done: _running.pop(key, None) if done is task else None)
    return 0  # queues nothing


async def _background(ctx: JobContext, now: datetime) -> bool:
    try:
        return await upkeep(ctx, now)
    except DatabaseClosed:  # the process is stopping: tomorrow, or at the next start
        return False
    except Exception:
        log.exception("storage upkeep failed; it runs again at the next sweep")
        return False


async def upkeep(ctx: JobContext, now: datetime) -> bool:
    """Today's upkeep, if not done yet. True if it ran."""
    day = _day(now)
    runs = ctx.repos.runs
    if await runs.has_run(day):
        return False
    try:
        await _look_after(ctx, now)
    except Exception:
        # Nothing here is urgent (a month is made ahead; a default partition catches a
        # missing one): a failure, such as the lock timeout of a partition's drop, is logged
        # and tried again tomorrow rather than every minute.
        log.exception("storage upkeep failed; it runs again tomorrow")
    await runs.record(day, now)
    return True


def _day(now: datetime) -> str:
    return f"storage:{now.astimezone(UTC).date().isoformat()}"


async def _look_after(ctx: JobContext, now: datetime) -> None:
    db = ctx.repos.db
    if db.dialect == "postgresql":
        created = await partitions.ensure_ahead(db, now)
        if created:
            log.info("partitions created ahead: %s", ", ".join(created))
    if ctx.keep_messages is not None:
        done = await retention.prune(db, now, ctx.keep_messages)
        if any(done.texts.values()) or any(done.rows.values()):
            log.info(
                "retention (before %s): texts dropped %s; rows counted and removed %s; "
                "partitions dropped %s",
                done.cutoff.date(),
                done.texts,
                done.rows,
                done.partitions or "none",
            )
