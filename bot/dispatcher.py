"""The outbox dispatcher: the only way broadcasts leave.

It claims due messages for a lease, sends them through the channel adapters at each
channel's configured rate (and per chat for Telegram), keeps SMS out of quiet hours unless
urgent, and records every outcome. A claim whose process died is taken back once its lease
runs out. Stopping finishes the sends under way and gives the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time as monotonic
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter

from bot.channels.base import ChannelSender
from bot.clock import Clock
from bot.config import OutboxSection
from bot.messages import AddressKind
from bot.outbox import send_row
from bot.quiet import quiet_until
from storage.engine import as_datetime
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# Stop sending a claimed message once less than this share of its lease is left; the send
# itself (a provider call, 10 s at most for Twilio) must finish before the lease runs out.
LEASE_MARGIN = 0.25


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
        ready: Callable[[AddressKind], bool] | None = None,
    ) -> None:
        self.repos = repos
        self.senders = senders
        self.ready = ready or (lambda kind: True)
        self.clock = clock
        self.settings = settings
        self.zone = zone
        # Claim a few rounds of concurrent sends at a time: a small batch keeps the number of
        # messages a killed process held (possible duplicates on restart) small.
        slowest = min(settings.rate.sms, settings.rate.telegram, settings.rate.console)
        within_lease = max(1, int(slowest * settings.lease.total_seconds() / 2))
        self.batch = batch or min(settings.concurrency * 4, within_lease)
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

    def ready_kinds(self) -> list[AddressKind]:
        """The kinds this process sends now: configured, and not degraded (a provider that
        could not be reached leaves its messages waiting until it is back)."""
        return [kind for kind in self.senders if self.ready(kind)]

    def poke(self) -> None:
        """Something was enqueued: look now rather than at the next idle tick."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox dispatcher %s started", self.holder)
        failures = 0
        try:
            while not stop.is_set():
                try:
                    claimed = await self.drain_once(stop)
                    failures = 0
                except Exception:  # a database outage must not end sending for good
                    failures += 1
                    log.exception("outbox dispatcher: claiming failed (%d in a row)", failures)
                    claimed = 0
                if claimed == 0:
                    pause = self.idle_seconds * min(2**failures, 120)
                    await self._idle(stop, pause)
        finally:
            with contextlib.suppress(Exception):
                await self.repos.outbox.release(self.holder, self.clock.now())
            log.info("outbox dispatcher %s stopped after %d sends", self.holder, self.sent)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def drain_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch of due messages and send it; the number claimed."""
        now = self.clock.now()
        lease_until = now + self.lease
        kinds = self.ready_kinds()
        if not kinds:
            return 0  # nothing this process can send: every message stays waiting
        rows = await self.repos.outbox.claim(
            holder=self.holder, now=now, lease_until=lease_until, limit=self.batch, kinds=kinds
        )
        tasks = []
        for row in rows:
            if stop is not None and stop.is_set():
                break  # the rest stay claimed by us and are released on the way out
            await self._slots.acquire()
            tasks.append(asyncio.create_task(self._send(row, lease_until)))
        if tasks:
            await asyncio.gather(*tasks)
        return len(rows)

    async def _send(self, row: dict[str, Any], lease_until: datetime) -> None:
        try:
            kind = AddressKind(row["address_kind"])
            now = self.clock.now()
            expires = as_datetime(row["expires_at"])
            if expires is not None and now >= expires:
                await self.repos.outbox.cancel(row["id"], "expired", now)
                return
            if kind is AddressKind.SMS and not row["urgent"]:
                until = quiet_until(now, self.settings.quiet, self.zone)
                if until is not None and expires is not None and until >= expires:
                    await self.repos.outbox.cancel(row["id"], "expired in quiet hours", now)
                    return
                if until is not None:
                    await self.repos.outbox.defer(row["id"], until, now)
                    return
            sender = self.senders.get(kind)
            if sender is not None:
                await self._limiters[sender.channel].acquire()
                if kind is AddressKind.TELEGRAM:
                    await self._space_chat(row["address"])
            if self.clock.now() >= lease_until - self.lease * LEASE_MARGIN:
                # Our claim is about to run out (a slow provider, a long queue at the rate
                # limit): another dispatcher may take the message back, so we must not send.
                await self.repos.outbox.defer(row["id"], self.clock.now(), self.clock.now())
                return
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
