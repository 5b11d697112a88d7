"""The public pages (no login): what the campaign reports back to the people. Each module
holds one page and its JSON twin; `routes()` gathers them for the app."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.web.public import index


def routes() -> list[BaseRoute]:
    return [*index.routes()]
