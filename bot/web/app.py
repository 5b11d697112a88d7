"""The ASGI application `grassroots serve` runs: health, each configured channel's webhooks,
the public pages, the browser sandbox and the organisers' console ([web] says which)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.app import App
from bot.channels import sms
from bot.channels.telegram import WEBHOOK_PATH
from bot.clock import Clock
from bot.config import Config
from bot.telegram_service import TelegramService
from bot.web import console, public, sandbox, wechat_webhook
from bot.web.console.access import SignInRequired
from bot.web.pages import not_found
from bot.web.webhooks import healthz, sms_inbound, sms_status, telegram_webhook
from scheduler.campaign import Campaign, load_campaign
from scheduler.jobs import JobContext
from scheduler.service import SchedulerService

log = logging.getLogger(__name__)


def listen(
    host: str, port: int, kind: type[socket.socket] = socket.socket, reuse_port: bool = False
) -> socket.socket:
    """A socket bound to host:port, for uvicorn to serve on. Bound before the start-up, so
    a busy port stops `serve` before the dispatcher or the scheduler has done anything.
    `reuse_port`: several workers' sockets share the port (see bot/serving.py)."""
    family, sock_type, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = kind(family, sock_type, proto)
    try:
        # Lets a restart take the port while old connections linger in TIME_WAIT; on Linux
        # it does not let two servers listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
) -> SchedulerService:
    """The scheduler of this process: active if it holds the database lease, else standing
    by. With [scheduler] off it runs no campaign, only the recovery of messages a dead
    process left unhandled, which must happen once per deployment too."""
    settings = bot.config.scheduler
    if settings.enabled:
        campaign = campaign or load_configured_campaign(bot.config)
        assert campaign is not None
    ctx = JobContext(
        bot.repos, bot.config.zone, bot.config.bot.language, poke, bot.config.storage.retention()
    )
    service = SchedulerService(
        ctx,
        campaign if settings.enabled else None,
        settings,
        bot.clock,
        sweep_every=timedelta(seconds=bot.config.participation.sweep_seconds),
        recover=lambda before: bot.router.recover(before=before),
    )
    await service.start()
    return service


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
        bot = await App.open(config, clock, print_sms=print_sms, sandbox_sms=config.sandbox_on)
        web.state.bot = bot
        stop = asyncio.Event()
        sending: asyncio.Task[None] | None = None
        scheduler: SchedulerService | None = None
        telegram: TelegramService | None = None
        wechat: wechat_webhook.WechatWebhook | None = None
        # Everything after App.open is inside the try: a failed start must still close the
        # database, whose driver thread would otherwise keep a dead process alive.
        try:
            dispatcher = bot.dispatcher()
            web.state.dispatcher = dispatcher
            if bot.telegram is not None:
                telegram = TelegramService(bot, dispatcher.poke)
                web.state.telegram = telegram
                await telegram.start(polls)
            if bot.wechat is not None:
                wechat = web.state.wechat = wechat_webhook.WechatWebhook(bot, dispatcher.poke)
                await wechat.start()
            # Recovery of messages left unhandled is the lease holder's (scheduler), not
            # every worker's: at start a worker cannot tell a dead run's message from one a
            # live worker is handling.
            sending = asyncio.create_task(dispatcher.run(stop))
            if with_scheduler:
                scheduler = await start_scheduler(bot, dispatcher.poke, campaign)
            if bot.sandbox and config.sandbox_on and not print_sms:
                log.warning(
                    "no SMS provider configured ([twilio]): messages to phone numbers are "
                    "shown in /sandbox and counted sent; nobody receives them"
                )
            elif bot.sandbox and not print_sms:
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
                if wechat is not None:
                    await wechat.stop()
            finally:
                stop.set()
                try:
                    if sending is not None:
                        await sending
                finally:
                    await bot.close()

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    routes += web_routes(config)
    if config.twilio.enabled:
        routes += [
            Route(sms.INBOUND_PATH, sms_inbound, methods=["POST"]),
            Route(sms.STATUS_PATH, sms_status, methods=["POST"]),
        ]
    if config.telegram.enabled and not polls:  # a polling bot has no webhook to forge
        routes.append(Route(WEBHOOK_PATH, telegram_webhook, methods=["POST"]))
    if config.wechat.enabled:
        routes += [
            Route(wechat_webhook.PATH, wechat_webhook.verify, methods=["GET"]),
            Route(wechat_webhook.PATH, wechat_webhook.callback, methods=["POST"]),
        ]
    # Pages compress ten to one (a branch page: 29 kB of HTML, 3 kB on the wire), which is
    # what a villager on a slow mobile connection waits for; webhook answers are smaller than
    # the threshold and go as they are.
    middleware = [Middleware(GZipMiddleware, minimum_size=1024)]
    web = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers=_HANDLERS, middleware=middleware
    )
    web.state.web = {
        "public": config.web.public,
        "sandbox": config.sandbox_on,
        "console": config.web.console,
        "base_url": config.base_url(),
    }
    return web


def web_routes(config: Config) -> list[BaseRoute]:
    """The pages [web] turns on; a page that is off has no route at all (404)."""
    routes: list[BaseRoute] = []
    if config.web.public or config.sandbox_on or config.web.console:
        static = StaticFiles(packages=[("bot.web", "static")])
        routes.append(Mount("/static", static, name="static"))
    if config.web.public:
        routes += public.routes()
    if config.sandbox_on:
        routes += sandbox.routes()
    if config.web.console:
        routes += console.routes()
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and "text/html" in request.headers.get("accept", ""):
        return not_found(request)
    if exc.status_code == 404 and request.url.path.endswith(".json"):
        return not_found(request)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


async def _sign_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/sign-in?next={quote(target, safe='/')}", status_code=303)


_HANDLERS = {HTTPException: _http_error, SignInRequired: _sign_in}
