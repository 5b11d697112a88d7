"""`GET/POST /wechat`: WeChat's server callbacks, answered within its 5-second limit.

A message is recorded (unique on its MsgId, an event on sender and CreateTime) before
anything else, so WeChat's retries are handled once. The answer goes back passively, in the
callback's response, when the handler is done within [wechat] reply_seconds; otherwise the
callback answers "success" (WeChat then neither retries nor shows an error) and the replies
follow through the outbox as customer-service messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.app import App
from bot.channel_health import retry_delay
from bot.channels import sms, wechat
from bot.channels.base import plain_text
from bot.messages import AddressKind, Inbound, Outbound
from bot.privacy import mask_phone
from bot.web.webhooks import read_limited, rejected
from storage.models import Recorded

log = logging.getLogger(__name__)
XML = "application/xml"
PATH = wechat.PATH


class WechatWebhook:
    """The callbacks' state in one process: handlers still running past the deadline."""

    def __init__(self, app: App, poke: Callable[[], None]) -> None:
        assert app.wechat is not None
        self.app = app
        self.callbacks = app.wechat
        self.poke = poke  # wakes the outbox dispatcher
        self.reply_seconds = app.config.wechat.reply_seconds
        sender = app.senders[AddressKind.WECHAT]
        assert app.wechat_api is not None
        self.api = app.wechat_api
        self.health = app.health[sender.channel]
        self._late: set[asyncio.Task[None]] = set()
        self._probing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch an access token, so that a wrong AppSecret or an IP missing from the
        account's whitelist shows at start. If it fails, the channel starts degraded (its
        messages wait in the outbox; callbacks are still answered) and a background task
        retries with backoff."""
        settings = self.app.config.wechat
        log.info(
            "wechat: account %s, server URL %s%s (%s mode)",
            settings.app_id,
            settings.public_url or "<public_url>",
            wechat.PATH,
            "safe" if settings.safe_mode else "plain",
        )
        try:
            await self.api.token()
        except wechat.ApiError as error:
            self._probing = asyncio.create_task(self._retry(self._failed(error)))

    def _failed(self, error: wechat.ApiError) -> float:
        delay = retry_delay(self.health.attempts + 1)
        now = self.app.clock.now()
        self.health.failed(str(error)[:300], now, now + timedelta(seconds=delay))
        log.warning(
            "wechat: no access token (%s); channel degraded (callbacks are answered, messages "
            "wait in the outbox); attempt %d, next in %.1f s",
            self.health.error,
            self.health.attempts,
            delay,
        )
        return delay

    async def _retry(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            try:
                await self.api.token(refresh=True)
            except wechat.ApiError as error:
                delay = self._failed(error)
                continue
            log.warning(
                "wechat: access token after %d failed attempts; channel up", self.health.attempts
            )
            self.health.recovered()
            self.poke()
            return

    async def stop(self) -> None:
        """Let handlers past their deadline finish, so that their replies are queued."""
        if self._probing is not None:
            self._probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probing
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)

    async def respond(self, recorded: Recorded, inbound: Inbound, started: float) -> str | None:
        """The passive reply's text if the handler finishes in time, else None (its replies
        are queued when it does)."""
        work = asyncio.ensure_future(self.app.router.respond(recorded, inbound))
        left = self.reply_seconds - (asyncio.get_running_loop().time() - started)
        try:
            replies = await asyncio.wait_for(asyncio.shield(work), timeout=max(left, 0.0))
        except TimeoutError:
            self._finish_later(recorded.id, work)
            log.info("wechat message %s: handler past %.1f s, answer queued", recorded.id, left)
            return None
        except asyncio.CancelledError:  # WeChat hung up: the answer still goes, later
            self._finish_later(recorded.id, work)
            raise
        text = "\n\n".join(plain_text(reply) for reply in replies)
        if len(text.encode()) <= wechat.MAX_TEXT_BYTES:
            return text
        await self._enqueue(recorded.id, replies)  # too long for one passive reply
        return None

    def _finish_later(self, message_id: int, work: asyncio.Future[list[Outbound]]) -> None:
        late = asyncio.ensure_future(self._queue(message_id, work))
        self._late.add(late)
        late.add_done_callback(self._late.discard)

    async def _queue(self, message_id: int, work: asyncio.Future[list[Outbound]]) -> None:
        try:
            replies = await work
        except Exception:  # the router logs and records what it can; nothing to send
            log.exception("wechat message %s: handling failed after the deadline", message_id)
            return
        await self._enqueue(message_id, replies)

    async def _enqueue(self, message_id: int, replies: list[Outbound]) -> None:
        await self.app.repos.outbox.enqueue_replies(message_id, replies, self.app.clock.now())
        if replies:
            self.poke()


async def verify(request: Request) -> Response:
    """The server-URL check WeChat makes when the account's server configuration is saved."""
    hook: WechatWebhook = request.app.state.wechat
    try:
        echo = hook.callbacks.verify_url(dict(request.query_params), hook.app.clock.now())
    except wechat.CallbackRejected as error:
        return rejected(request, error)
    return PlainTextResponse(echo)


async def callback(request: Request) -> Response:
    """A message or event: signature first, then recorded, then answered (see above)."""
    started = asyncio.get_running_loop().time()
    hook: WechatWebhook = request.app.state.wechat
    app = hook.app
    now = app.clock.now()
    try:
        raw = await read_limited(request, wechat.MAX_BODY_BYTES)
        opened = hook.callbacks.open(dict(request.query_params), raw, now)
    except wechat.CallbackRejected as error:
        return rejected(request, error)
    except sms.WebhookRejected as error:  # larger than any callback
        return PlainTextResponse(error.reason + "\n", status_code=error.status)
    # Past the signature, what cannot be used is acknowledged and dropped (logged): any
    # other answer makes WeChat deliver it twice more. A storage failure still answers 500.
    message = wechat.parse(opened.xml)
    if message is None:
        return PlainTextResponse(wechat.SUCCESS)
    try:
        conversion = wechat.convert(message, now)
    except Exception as error:  # fields of the wrong kind (or wechatpy failing on them)
        log.warning("wechat callback dropped: %s", f"{type(error).__name__}: {error}"[:200])
        return PlainTextResponse(wechat.SUCCESS)
    if isinstance(conversion, wechat.Ignored):
        log.debug("wechat callback ignored: %s", conversion.reason)
        return PlainTextResponse(wechat.SUCCESS)
    if isinstance(conversion, wechat.Unfollowed):
        await app.repos.people.opt_out(conversion.address, now)
        log.info("wechat follower %s unsubscribed: opted out", mask_phone(conversion.address.value))
        return PlainTextResponse(wechat.SUCCESS)
    inbound = conversion.inbound
    if conversion.followed:
        await app.repos.people.opt_in(inbound.sender)
    recorded = await app.router.accept(inbound)
    if not recorded.is_new:
        # A retry: the first delivery is handled (or being handled) and answers itself.
        log.info("wechat %s delivered again: handled once", inbound.provider_id)
        return PlainTextResponse(wechat.SUCCESS)
    text = await hook.respond(recorded, inbound, started)
    if not text:
        return PlainTextResponse(wechat.SUCCESS)
    body = hook.callbacks.answer(opened, wechat.reply_xml(message, text))
    return Response(body, media_type=XML)
