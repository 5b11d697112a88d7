"""The outbox dispatcher: the only way broadcasts leave.

It claims due messages for a lease, sends them through the channel adapters at each
channel's configured rate (and per chat for Telegram), keeps SMS out of quiet hours unless
urgent, and records every outcome. A claim whose process died is taken back once its lease
runs out. Stopping finishes the sends under way and gives the rest back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time as monotonic
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter

from bot.channels.base import ChannelSender
from bot.clock import Clock
from bot.config import OutboxSection
from bot.messages import AddressKind
from bot.outbox import send_row
from storage.repositories import Repositories

log = logging.getLogger(__name__)


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


class Dispatcher:
    def __init__(
        self,
        repos: Repositories,
        senders: dict[AddressKind, ChannelSender],
        clock: Clock,
        settings: OutboxSection,
        zone: ZoneInfo,
        *,
        batch: int | None = None,
        idle_seconds: float = 0.5,
    ) -> None:
        self.repos = repos
        self.senders = senders
        self.clock = clock
        self.settings = settings
        self.zone = zone
        # Claim a few rounds of concurrent sends at a time: a small batch keeps the number of
        # messages a killed process held (possible duplicates on restart) small.
        self.batch = batch or settings.concurrency * 4
        self.lease = settings.lease
        self.idle_seconds = idle_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # A leaky bucket per channel, filled a tenth of a second at a time so the rate is
        # smooth rather than one burst per second.
        self._limiters = {
            name: AsyncLimiter(max(rate / 10, 1), 0.1 if rate >= 10 else 1 / rate)
            for name, rate in settings.rate.model_dump().items()
            if name != "telegram_per_chat"
        }
        self._per_chat = 1 / settings.rate.telegram_per_chat
        self._last_to_chat: dict[str, float] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._wake = asyncio.Event()
        self.sent = 0

    def poke(self) -> None:
        """Something was enqueued: look now rather than at the next idle tick."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox dispatcher %s started", self.holder)
        try:
            while not stop.is_set():
                if await self.drain_once(stop) == 0:
                    self._wake.clear()
                    waiters = [
                        asyncio.ensure_future(stop.wait()),
                        asyncio.ensure_future(self._wake.wait()),
                    ]
                    await asyncio.wait(
                        waiters, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            await self.repos.outbox.release(self.holder, self.clock.now())
            log.info("outbox dispatcher %s stopped after %d sends", self.holder, self.sent)

    async def drain_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch of due messages and send it; the number claimed."""
        now = self.clock.now()
        rows = await self.repos.outbox.claim(
            holder=self.holder, now=now, lease_until=now + self.lease, limit=self.batch
        )
        tasks = []
        for row in rows:
            if stop is not None and stop.is_set():
                break  # the rest stay claimed by us and are released on the way out
            await self._slots.acquire()
            tasks.append(asyncio.create_task(self._send(row)))
        if tasks:
            await asyncio.gather(*tasks)
        return len(rows)

    async def _send(self, row: dict[str, Any]) -> None:
        try:
            kind = AddressKind(row["address_kind"])
            now = self.clock.now()
            if kind is AddressKind.SMS and not row["urgent"]:
                until = quiet_until(now, self.settings.quiet, self.zone)
                if until is not None:
                    await self.repos.outbox.defer(row["id"], until, now)
                    return
            sender = self.senders.get(kind)
            if sender is not None:
                await self._limiters[sender.channel].acquire()
                if kind is AddressKind.TELEGRAM:
                    await self._space_chat(row["address"])
            outcome = await send_row(
                self.repos, self.senders, row, self.clock.now(), self.settings.max_attempts
            )
            if outcome.status == "sent":
                self.sent += 1
        except Exception:  # one message must not stop the others; it stays claimed
            log.exception("outbox %s: unexpected error while sending", row["id"])
        finally:
            self._slots.release()

    async def _space_chat(self, chat: str) -> None:
        """Telegram allows about one message per second to one chat."""
        last = self._last_to_chat.get(chat)
        now = monotonic.monotonic()
        if last is not None and now - last < self._per_chat:
            await asyncio.sleep(self._per_chat - (now - last))
        self._last_to_chat[chat] = monotonic.monotonic()
        if len(self._last_to_chat) > 10_000:  # forget chats whose spacing has passed
            horizon = monotonic.monotonic() - self._per_chat
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
