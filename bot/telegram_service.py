"""Telegram updates through the router, the same way in webhook and polling mode.

An update is recorded durably before anything else (a webhook answers 200 only after that,
so Telegram's redelivery finds it recorded and it is handled once); then it is handled, and
the replies go back through the outbox, which keeps Telegram's rate limits. Polling uses
python-telegram-bot's Application and Updater; webhook mode uses the Application without its
web server (ours receives).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta

from telegram import Update
from telegram.error import InvalidToken
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.app import App
from bot.channel_health import retry_delay
from bot.channels.telegram import (
    ALLOWED_UPDATES,
    Blocked,
    Ignored,
    Received,
    Unblocked,
    convert,
)
from bot.privacy import mask_phone
from storage.models import Recorded

log = logging.getLogger(__name__)

# A webhook body past this is refused with 413 unread. A real update (a 4,096-character
# message quoting another, with entities) is a few tens of KB.
MAX_UPDATE_BYTES = 1024 * 1024


def _dropped(update_id: object, error: BaseException) -> None:
    reason = f"{type(error).__name__}: {error}"[:200]
    log.warning("telegram update %s dropped: not a usable update (%s)", update_id, reason)


def _update_id(data: object) -> object:
    return data.get("update_id") if isinstance(data, dict) else None


class TelegramService:
    def __init__(self, app: App, poke: Callable[[], None]) -> None:
        assert app.telegram is not None
        self.app = app
        self.poke = poke  # wakes the outbox dispatcher
        self.sender = app.telegram
        self.health = app.health[self.sender.channel]
        self.application = Application.builder().bot(self.sender.bot).updater(None).build()
        self._tasks: set[asyncio.Task[None]] = set()
        self._polling: Application | None = None
        self._reconnecting: asyncio.Task[None] | None = None

    async def start(self, polling: bool) -> None:
        """Reach the Bot API (getMe; in polling mode, start polling). If it cannot be
        reached, the channel starts degraded and a background task retries with backoff:
        webhooks are still taken and handled, replies wait in the outbox, and SMS and the
        web pages are not held up by another provider's outage."""
        if polling:  # polling needs no public URL: for development and small deployments
            self._polling = Application.builder().bot(self.sender.bot).build()
            self._polling.add_handler(TypeHandler(Update, self._on_polled))
        try:
            await self._connect()
        except Exception as error:  # whatever the cause, SMS and the pages must go on
            self._reconnecting = asyncio.create_task(self._reconnect(self._failed(error)))

    async def _connect(self) -> None:
        await self.application.initialize()  # getMe: a wrong token or no route fails here
        if self._polling is not None:
            await self._polling.initialize()
            if not self._polling.running:
                await self._polling.start()
            assert self._polling.updater is not None
            if not self._polling.updater.running:
                await self._polling.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        mode = "polling" if self._polling is not None else "webhook"
        log.info("telegram: @%s, %s", self.sender.bot.username, mode)

    def _failed(self, error: Exception) -> float:
        """Record and log a failed attempt; the seconds to wait before the next."""
        delay = retry_delay(self.health.attempts + 1)
        now = self.app.clock.now()
        self.health.failed(
            f"{type(error).__name__}: {error}"[:300], now, now + timedelta(seconds=delay)
        )
        # A refused token will not mend itself (the operator must fix the environment);
        # an unreachable API usually does.
        level = logging.ERROR if isinstance(error, InvalidToken) else logging.WARNING
        log.log(
            level,
            "telegram: Bot API not reachable (%s); channel degraded (updates are taken, "
            "replies wait in the outbox); attempt %d, next in %.1f s",
            self.health.error,
            self.health.attempts,
            delay,
        )
        return delay

    async def _reconnect(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except Exception as error:
                delay = self._failed(error)
                continue
            log.warning(
                "telegram: Bot API reachable again after %d failed attempts; channel up, "
                "waiting replies are sent",
                self.health.attempts,
            )
            self.health.recovered()
            self.poke()
            return

    async def stop(self) -> None:
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._polling is not None:
            assert self._polling.updater is not None
            if self._polling.updater.running:
                await self._polling.updater.stop()
            if self._polling.running:
                await self._polling.stop()
            await self._polling.shutdown()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.application.shutdown()

    def parse(self, raw: bytes) -> Update | None:
        """The update in a webhook body, or None (logged) for anything that is not one:
        not JSON, nested past the recursion limit, a lone surrogate, fields of the wrong
        type. The parser meets input from the network here; nothing it raises escapes."""
        data: object = None
        try:
            data = json.loads(raw)
            update_id = _update_id(data)
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                raise ValueError("no integer update_id")
            # Text that cannot be stored (a lone UTF-16 surrogate) is refused here, once,
            # rather than by the database in the middle of handling.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
            return Update.de_json(data, self.sender.bot)  # type: ignore[arg-type]
        except Exception as error:  # untrusted input: every failure is a drop
            _dropped(_update_id(data), error)
            return None

    async def ingest(self, update: Update, *, wait: bool) -> bool:
        """Record the update and have it handled (in the background unless `wait`).
        True if it was new."""
        now = self.app.clock.now()
        try:
            conversion = convert(update, now)
        except Exception as error:  # fields of the wrong type, polled or posted
            _dropped(update.update_id, error)
            return True
        if isinstance(conversion, Ignored):
            log.debug("telegram update %s ignored: %s", update.update_id, conversion.reason)
            if update.callback_query is not None:  # else the button keeps spinning
                await self.sender.answer_callback(update.callback_query.id)
            return True
        if isinstance(conversion, Unblocked):
            await self.app.repos.people.opt_in(conversion.address)
            return True
        if isinstance(conversion, Blocked):
            await self.app.repos.people.opt_out(conversion.address, now)
            log.info(
                "telegram chat %s blocked the bot: opted out", mask_phone(conversion.address.value)
            )
            return True
        recorded = await self.app.router.accept(conversion.inbound)
        if not recorded.is_new:
            return False  # redelivered: handled (and answered) the first time
        work = self._respond(recorded, conversion)
        if wait:
            await work
        else:
            task = asyncio.create_task(work)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _respond(self, recorded: Recorded, received: Received) -> None:
        if received.callback_id is not None:
            await self.sender.answer_callback(received.callback_id)
        # Replies leave through the outbox: Telegram's limits (about 30 a second, 1 a second
        # per chat) are kept there, and a reply refused with 429 is retried, not lost.
        await self.app.router.respond(recorded, received.inbound, via_outbox=True)
        self.poke()

    async def _on_polled(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self.ingest(update, wait=True)
