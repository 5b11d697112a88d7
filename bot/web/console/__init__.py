"""The organisers' console (/console): sign-in, and pages per organisation in the signed-in
person's scope. Every page uses bot/web/console/access.py; `routes()` gathers them."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.web.console import audit_page, home, records, roster, signin


def routes() -> list[BaseRoute]:
    return [
        *signin.routes(),
        *home.routes(),
        *audit_page.routes(),
        *roster.routes(),
        *records.routes(),
    ]
