"""The data that grows, looked after once a day by the active scheduler: next months'
partitions created ahead (PostgreSQL) and retention applied (`[storage] keep_messages`).
A sweep, so it runs at start and catches up after downtime; noted per UTC day in job_runs,
so several sweeps a day, or several processes, do it once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from scheduler.jobs import JobContext
from storage import partitions, retention

log = logging.getLogger(__name__)


async def sweep(ctx: JobContext, now: datetime) -> int:
    key = f"storage:{now.astimezone(UTC).date().isoformat()}"
    runs = ctx.repos.runs
    if await runs.has_run(key):
        return 0
    try:
        await _look_after(ctx, now)
    except Exception:
        # Nothing here is urgent (a month is made ahead; a default partition catches a
        # missing one): a failure, such as the lock timeout of a partition's drop, is logged
        # and tried again tomorrow rather than every minute.
        log.exception("storage upkeep failed; it runs again tomorrow")
    await runs.record(key, now)
    return 0  # queues nothing


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
