"""Reminders of commitments coming due, and prompts to report completion."""

from __future__ import annotations

from datetime import datetime

from scheduler.jobs import JobContext


async def sweep(ctx: JobContext, now: datetime) -> int:
    """Do what has come due by `now`; returns the number of messages queued. Safe to run
    again at once (idempotent) and from any process holding the scheduler lease."""
    return 0
