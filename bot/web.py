"""The ASGI application `grassroots serve` runs: health, and each configured channel's webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import App
from bot.channels import sms
from bot.channels.telegram import WEBHOOK_PATH
from bot.clock import Clock
from bot.config import Config
from bot.telegram_service import MAX_UPDATE_BYTES, TelegramService
from scheduler.campaign import Campaign, load_campaign
from scheduler.jobs import JobContext
from scheduler.service import SchedulerService

log = logging.getLogger(__name__)
TWIML = "application/xml"


async def healthz(request: Request) -> JSONResponse:
    """200 while the service can take webhooks (the database answers), even with a provider
    channel degraded: an orchestrator that restarts or unroutes on 503 would then take SMS
    down for a Telegram outage. "status" says "degraded" and "degraded" says which and why."""
    app: App = request.app.state.bot
    try:
        await app.repos.db.fetchval("SELECT 1 AS ok")
    except Exception as exc:  # the probe reports, it does not crash
        log.warning("health check: database unavailable: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "error"}, status_code=503)
    degraded = {name: h.as_json() for name, h in sorted(app.health.items()) if not h.ok}
    body: dict[str, object] = {
        "status": "degraded" if degraded else "ok",
        "database": app.repos.db.dialect,
        "channels": app.channel_names(),
    }
    if degraded:
        body["degraded"] = degraded
    return JSONResponse(body)


async def _verified_form(request: Request, path: str) -> dict[str, str]:
    app: App = request.app.state.bot
    form = sms.parse_form(await _read_limited(request), request.headers.get("content-type"))
    assert app.sms_verifier is not None  # the route exists only with SMS configured
    app.sms_verifier.verify(path, form, request.headers.get("x-twilio-signature"))
    return form


async def _read_limited(request: Request, limit: int = sms.MAX_FORM_BYTES) -> bytes:
    """The body, refused past the limit without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise sms.WebhookRejected(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise sms.WebhookRejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _rejected(request: Request, error: sms.WebhookRejected) -> Response:
    log.warning(
        "%s %s refused (%d): %s", request.method, request.url.path, error.status, error.reason
    )
    return PlainTextResponse(error.reason + "\n", status_code=error.status)


async def sms_inbound(request: Request) -> Response:
    """Twilio's Messaging webhook: record, handle, answer with TwiML in the same request."""
    app: App = request.app.state.bot
    try:
        form = await _verified_form(request, sms.INBOUND_PATH)
        inbound = sms.to_inbound(form, app.clock.now())
    except sms.WebhookRejected as error:
        return _rejected(request, error)
    except sms.SenderRefused as refused:
        # Signed and well formed, so Twilio gets a 200 and does not retry; the log line is
        # the record (the inbound log holds phone identities only, and this is none).
        log.warning(
            "SMS %s from %s refused: %s",
            form.get("MessageSid") or form.get("SmsSid"),
            refused.masked_sender,
            refused.reason,
        )
        return Response(sms.twiml([]), media_type=TWIML)
    replies = await app.router.handle(inbound)
    return Response(sms.twiml(replies), media_type=TWIML)


async def sms_status(request: Request) -> Response:
    """Twilio's status callback for a message we sent."""
    app: App = request.app.state.bot
    try:
        form = await _verified_form(request, sms.STATUS_PATH)
    except sms.WebhookRejected as error:
        return _rejected(request, error)
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not status:
        return _rejected(request, sms.WebhookRejected(400, "MessageSid or MessageStatus missing"))
    now, code = app.clock.now(), form.get("ErrorCode") or None
    recipient = await app.repos.outbox.update_delivery(sid, status.lower(), code, now)
    if recipient is None:
        log.info("status %s for %s changed nothing (late, repeated or unknown)", status, sid)
    elif code in sms.OPTED_OUT_CODES:  # honoured for the next broadcast, as send errors are
        await app.repos.people.opt_out(recipient, now)
    elif code in sms.CALLBACK_INVALID_CODES:
        await app.repos.people.mark_invalid(recipient, now)
    return Response(status_code=204)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, for uvicorn to serve on. Bound before the start-up, so
    a busy port stops `serve` before the dispatcher or the scheduler has done anything."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restart take the port while old connections linger in TIME_WAIT; on Linux
        # it does not let two servers listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def load_configured_campaign(config: Config) -> Campaign | None:
    """The campaign the scheduler will run, read before anything starts: a broken file
    stops `serve` before a message is sent. CampaignError says what is wrong."""
    settings = config.scheduler
    if not settings.enabled:
        return None
    return load_campaign(settings.campaign or None, start=settings.campaign_start)


async def start_scheduler(
    bot: App, poke: Callable[[], None], campaign: Campaign | None = None
) -> SchedulerService | None:
    settings = bot.config.scheduler
    if not settings.enabled:
        return None
    campaign = campaign or load_configured_campaign(bot.config)
    assert campaign is not None
    ctx = JobContext(bot.repos, bot.config.zone, bot.config.bot.language, poke)
    service = SchedulerService(
        ctx,
        campaign,
        settings,
        bot.clock,
        sweep_every=timedelta(seconds=bot.config.participation.sweep_seconds),
    )
    await service.start()
    return service


async def telegram_webhook(request: Request) -> Response:
    """Telegram's webhook: the secret token first, then the update recorded before the 200."""
    service: TelegramService = request.app.state.telegram
    secret = request.app.state.bot.config.telegram_secret or ""
    given = request.headers.get("x-telegram-bot-api-secret-token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return PlainTextResponse("secret token does not match\n", status_code=403)
    try:
        raw = await _read_limited(request, MAX_UPDATE_BYTES)
    except sms.WebhookRejected as error:
        return _rejected(request, error)
    # Past the secret, whatever cannot be used is acknowledged and dropped (with a log
    # line): any other answer makes Telegram deliver it again, for a day. A storage failure
    # still answers 500, so that a good update is redelivered once storage is back.
    update = service.parse(raw)
    if update is not None:
        await service.ingest(update, wait=False)
    return Response(status_code=200)


def create_web_app(
    config: Config,
    clock: Clock | None = None,
    *,
    with_scheduler: bool = True,
    telegram_polling: bool | None = None,
    print_sms: bool = False,
) -> Starlette:
    """The service. Start-up checks what can be wrong (database, campaign file) before
    anything sends; a provider that cannot be reached leaves its channel degraded, not the
    service down. `print_sms`: see App.open."""
    polls = telegram_polling if telegram_polling is not None else config.telegram.mode == "polling"

    @contextlib.asynccontextmanager
    async def lifespan(web: Starlette) -> AsyncIterator[None]:
        campaign = load_configured_campaign(config) if with_scheduler else None
        bot = await App.open(config, clock, print_sms=print_sms)
        web.state.bot = bot
        stop = asyncio.Event()
        sending: asyncio.Task[None] | None = None
        scheduler: SchedulerService | None = None
        telegram: TelegramService | None = None
        # Everything after App.open is inside the try: a failed start must still close the
        # database, whose driver thread would otherwise keep a dead process alive.
        try:
            dispatcher = bot.dispatcher()
            web.state.dispatcher = dispatcher
            if bot.telegram is not None:
                telegram = TelegramService(bot, dispatcher.poke)
                web.state.telegram = telegram
                await telegram.start(polls)
            await bot.router.recover()
            sending = asyncio.create_task(dispatcher.run(stop))
            if with_scheduler:
                scheduler = await start_scheduler(bot, dispatcher.poke, campaign)
            if bot.sandbox and not print_sms:
                log.warning(
                    "no SMS provider configured ([twilio]): messages to phone numbers wait "
                    "in the outbox for a process that has one"
                )
            elif bot.sandbox:
                log.warning(
                    "--print-sms: messages to phone numbers are printed here and counted "
                    "sent; nobody receives them"
                )
            log.info(
                "serving; channels on: %s; database: %s",
                ", ".join(bot.channel_names()),
                bot.repos.db.dialect,
            )
            yield
        finally:
            # SIGTERM: stop the timers, let the sends under way finish, give the rest back;
            # whatever fails on the way, the database is closed last.
            try:
                if scheduler is not None:
                    await scheduler.stop()
                if telegram is not None:
                    await telegram.stop()
            finally:
                stop.set()
                try:
                    if sending is not None:
                        await sending
                finally:
                    await bot.close()

    routes = [Route("/healthz", healthz)]
    if config.twilio.enabled:
        routes += [
            Route(sms.INBOUND_PATH, sms_inbound, methods=["POST"]),
            Route(sms.STATUS_PATH, sms_status, methods=["POST"]),
        ]
    if config.telegram.enabled and not polls:  # a polling bot has no webhook to forge
        routes.append(Route(WEBHOOK_PATH, telegram_webhook, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)
