"""The organisers' console (/console): sign-in, and pages per organisation in the signed-in
person's scope. Every page uses bot/web/console/access.py; `routes()` gathers them."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from bot.web.console import (
    audit_page,
    branch,
    broadcasts,
    home,
    polls,
    records,
    roster,
    signin,
)
from bot.web.console.overview import overview


def routes() -> list[BaseRoute]:
    return [
        *signin.routes(),
        *home.routes(),
        *audit_page.routes(),
        *branch.routes(),
        *polls.routes(),
        *broadcasts.routes(),
        *roster.routes(),
        *records.routes(),
        Route("/console/o/{code}", overview),
    ]
