"""Whether each provider channel can send right now, for the dispatcher, /healthz and the log.

A channel whose provider could not be reached at start (or later) is degraded: the service
keeps taking webhooks and serving pages, its messages wait in the outbox, and a background
task retries with backoff until the provider answers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FIRST_RETRY = 1.0  # seconds before the first retry; doubled each time, up to MAX_RETRY
MAX_RETRY = 300.0


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter (±20%), so restarts do not retry in step."""
    base = min(FIRST_RETRY * 2 ** max(attempt - 1, 0), MAX_RETRY)
    return base * random.uniform(0.8, 1.2)


@dataclass(slots=True)
class ChannelHealth:
    channel: str
    degraded_since: datetime | None = None
    error: str | None = None
    attempts: int = 0  # failed attempts since it was last up
    next_try: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.degraded_since is None

    def failed(self, error: str, now: datetime, next_try: datetime) -> None:
        self.degraded_since = self.degraded_since or now
        self.error = error
        self.attempts += 1
        self.next_try = next_try

    def recovered(self) -> None:
        self.degraded_since = self.error = self.next_try = None
        self.attempts = 0

    def as_json(self) -> dict[str, Any]:
        if self.ok:
            return {"state": "ok"}
        assert self.degraded_since is not None
        return {
            "state": "degraded",
            "since": self.degraded_since.isoformat(),
            "error": self.error,
            "attempts": self.attempts,
            "next_try": self.next_try.isoformat() if self.next_try else None,
        }
