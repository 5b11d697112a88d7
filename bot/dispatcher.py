"""The outbox dispatcher: the only way broadcasts leave.

It claims due messages for a short lease that a heartbeat renews while the process lives,
sends them through the channel adapters at each channel's configured rate (and per chat for
Telegram), keeps SMS out of quiet hours unless urgent, and records every outcome. The rate
holds for the whole deployment, however many workers send (bot/send_rate.py). A claim whose
process died is taken back once its lease runs out, 20 s by default. Stopping finishes the
sends under way and gives the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import ChannelSender
from bot.clock import Clock
from bot.config import OutboxSection
from bot.messages import AddressKind
from bot.outbox import send_row
from bot.quiet import quiet_until
from bot.send_rate import DeploymentRate, RateGate
from storage.engine import as_datetime
from storage.rate_slots import RateSlots
from storage.repositories import Repositories

log = logging.getLogger(__name__)

# Stop sending a claimed message once less than this share of its lease is left; the send
# itself (a provider call, 10 s at most for Twilio) must finish before the lease runs out.
# A live dispatcher renews its lease every quarter of it, so it never gets this close.
LEASE_MARGIN = 0.5
HEARTBEATS_PER_LEASE = 4
# A dispatcher claims about this many seconds of sending at the slowest channel's rate: a
# small batch keeps what a killed process held (possible duplicates) small, and a survivor
# looks for a dead one's claims again after each batch.
BATCH_SECONDS = 2.0


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
        rate: RateGate | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.repos = repos
        self.senders = senders
        self.ready = ready or (lambda kind: True)
        self.clock = clock
        self.settings = settings
        self.zone = zone
        slowest = min(settings.rate.sms, settings.rate.telegram, settings.rate.console)
        self.batch = batch or min(settings.concurrency * 4, max(1, int(slowest * BATCH_SECONDS)))
        self.lease = settings.lease
        self.heartbeat_seconds = heartbeat_seconds or (
            self.lease.total_seconds() / HEARTBEATS_PER_LEASE
        )
        self.idle_seconds = idle_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.rate = rate or DeploymentRate(
            RateSlots(repos.db),
            {
                name: value
                for name, value in settings.rate.model_dump().items()
                if name != "telegram_per_chat"
            },
        )
        # The time the latest heartbeat extended every claim of this dispatcher to.
        self.renewed_until: datetime | None = None
        self._sending: set[asyncio.Task[None]] = set()
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
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not stop.is_set():
                try:
                    # The next batch is claimed while the last sends of this one are under
                    # way, so the channel does not pause between batches.
                    claimed = await self._start_batch(stop)
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
                await self._finish_sends()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(Exception):
                await self.repos.outbox.release(self.holder, self.clock.now())
            log.info("outbox dispatcher %s stopped after %d sends", self.holder, self.sent)

    async def _heartbeat(self) -> None:
        """Renew this dispatcher's claims while it lives: when it dies (SIGKILL, a lost
        host) they run out within one lease and another dispatcher takes them."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self.renew()
            except Exception:  # the claims stand until their lease; sends stop before it
                log.warning("outbox dispatcher %s: heartbeat failed", self.holder, exc_info=True)

    async def renew(self) -> int:
        """One heartbeat: extend every claim this dispatcher holds by a lease."""
        until = self.clock.now() + self.lease
        held = await self.repos.outbox.renew(self.holder, until)
        self.renewed_until = until
        return held

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def drain_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch of due messages and send it; the number claimed."""
        claimed = await self._start_batch(stop)
        await self._finish_sends()
        return claimed

    async def _start_batch(self, stop: asyncio.Event | None) -> int:
        """Claim one batch and start its sends, as many at once as `concurrency` allows:
        returns once every send of the batch has started; the number claimed."""
        now = self.clock.now()
        lease_until = now + self.lease
        kinds = self.ready_kinds()
        if not kinds:
            return 0  # nothing this process can send: every message stays waiting
        rows = await self.repos.outbox.claim(
            holder=self.holder, now=now, lease_until=lease_until, limit=self.batch, kinds=kinds
        )
        for row in rows:
            if stop is not None and stop.is_set():
                break  # the rest stay claimed by us and are released on the way out
            await self._slots.acquire()
            task = asyncio.create_task(self._send(row, lease_until))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return len(rows)

    async def _finish_sends(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending)

    async def _send(self, row: dict[str, Any], claimed_until: datetime) -> None:
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
                try:
                    await self.rate.acquire(sender.channel)
                except Exception:  # no slot (the database is away): not sent, given back
                    log.warning("outbox %s: no sending slot", row["id"], exc_info=True)
                    await self.repos.outbox.unclaim(row["id"], self.clock.now())
                    return
                if kind is AddressKind.TELEGRAM:
                    await self._space_chat(row["address"])
            held = max(claimed_until, self.renewed_until or claimed_until)
            if self.clock.now() >= held - self.lease * LEASE_MARGIN:
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
        now = time.monotonic()
        if last is not None and now - last < self._per_chat:
            await asyncio.sleep(self._per_chat - (now - last))
        self._last_to_chat[chat] = time.monotonic()
        if len(self._last_to_chat) > 10_000:  # forget chats whose spacing has passed
            horizon = time.monotonic() - self._per_chat
            self._last_to_chat = {c: t for c, t in self._last_to_chat.items() if t > horizon}
