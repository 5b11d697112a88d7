"""Each channel's send rate for the whole deployment, whatever the number of workers.

Every dispatcher of every worker takes its sending time from one schedule per channel in
the database (storage/rate_slots.py), a short block of slots at a time, and sends each
message at its slot. Measured against one dispatcher per channel under a lease in
bench/global_rate.py: both keep to the rate, but when the lease holder dies its channel
stops for a whole lease (20 s), while the schedule loses a fraction of a second.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from storage.rate_slots import RateSlots

# Sending time is reserved from the deployment's schedule this many seconds at a time:
# one database round trip per block, and a block left unused is lost (it undershoots).
BLOCK_SECONDS = 0.2
# A slot is used at most this late (the dispatcher was between batches, or its host busy),
# and a channel idle for a moment may reserve from this far back: the sends of any one
# second then stay within 1 + LATE_SECONDS times the rate. After a few late slots in a row
# a send goes anyway, rather than starve on a host that is always late.
LATE_SECONDS = 0.05
LATE_RETRIES = 3


@dataclass
class _Lane:
    """The sending times (time.time()) one channel has reserved and not used yet."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    times: deque[float] = field(default_factory=deque)
    waiting: int = 0  # sends asking for a slot now


class DeploymentRate:
    """Each channel's [outbox.rate] for the whole deployment: a send waits for a slot of
    the channel's schedule in the database, reserved a short block at a time."""

    def __init__(
        self, slots: RateSlots, rates: dict[str, float], block_seconds: float = BLOCK_SECONDS
    ) -> None:
        self.slots = slots
        self.rates = rates
        self.block_seconds = block_seconds
        self._lanes = {channel: _Lane() for channel in rates}

    async def acquire(self, channel: str) -> None:
        for _ in range(LATE_RETRIES):
            at = await self._slot(channel)
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.time() - at <= LATE_SECONDS:
                return
            # Woken late (a busy host): the sends of other workers went on time, so this
            # slot is gone; sending now would crowd theirs. Take the next free one.

    async def _slot(self, channel: str) -> float:
        rate, lane = self.rates[channel], self._lanes[channel]
        lane.waiting += 1
        try:
            async with lane.lock:  # FIFO: sends go in the order they asked
                late = time.time() - LATE_SECONDS
                while lane.times and lane.times[0] < late:
                    lane.times.popleft()
                if not lane.times:
                    # No more than the sends waiting: at the end of a batch, slots reserved
                    # for nobody would be lost to the whole deployment.
                    count = max(1, min(round(rate * self.block_seconds), lane.waiting))
                    # From half the allowed lateness back: a send whose turn came a few
                    # milliseconds after the last slot (its provider call, a commit) does
                    # not lose that time to the whole deployment.
                    earliest = time.time() - LATE_SECONDS / 2
                    start = await self.slots.reserve(channel, count, rate, earliest)
                    lane.times.extend(start + i / rate for i in range(count))
                return lane.times.popleft()
        finally:
            lane.waiting -= 1


class RateGate(Protocol):
    async def acquire(self, channel: str) -> None:
        """Return when one more message may be sent on `channel`."""
        ...
