"""Channel-agnostic domain logic. Each module exposes ROUTES; `routes()` gathers them."""

from __future__ import annotations

from handlers.base import Route


def default_routes() -> tuple[Route, Route]:
    """What the router does with text no keyword claimed: a member's report, else help."""
    from handlers import deeds, help

    return Route("deed.free_text", deeds.report), Route("help.default", help.not_understood)


def routes() -> list[Route]:
    from handlers import deeds, help, notices, optout, record, registration

    return [
        *optout.ROUTES,
        *help.ROUTES,
        *registration.ROUTES,
        *deeds.ROUTES,
        *record.ROUTES,
        *notices.ROUTES,
    ]
