"""The ASGI application `grassroots serve` runs; channel webhooks mount here in later issues."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import App
from bot.clock import Clock
from bot.config import Config

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    app: App = request.app.state.bot
    try:
        await app.repos.db.fetchval("SELECT 1 AS ok")
    except Exception as exc:  # the probe reports, it does not crash
        log.warning("health check: database unavailable: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "error"}, status_code=503)
    return JSONResponse({"status": "ok", "database": app.repos.db.dialect})


def create_web_app(config: Config, clock: Clock | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(web: Starlette) -> AsyncIterator[None]:
        bot = await App.open(config, clock)
        web.state.bot = bot
        await bot.router.recover()
        log.info(
            "serving; channels on: none yet besides the console (database: %s)",
            bot.repos.db.dialect,
        )
        try:
            yield
        finally:
            await bot.close()

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
