"""Quiet hours for SMS: when a message sent now would reach a phone. The dispatcher holds
SMS back until they end; a notice's sender is told so when it is queued."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def quiet_until(now: datetime, quiet: tuple[time, time] | None, zone: ZoneInfo) -> datetime | None:
    """If `now` is inside the quiet hours (local time), the instant they end; else None."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(zone)
    clock = local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)
