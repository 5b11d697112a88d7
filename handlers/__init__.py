"""Channel-agnostic domain logic. Each module exposes ROUTES; `routes()` gathers them."""

from __future__ import annotations

from handlers.base import Route


def default_routes() -> tuple[Route, Route, Route]:
    """What the router does with text no keyword claimed (a member's report, else help),
    and with a shared phone number."""
    from handlers import deeds, help, linking

    return (
        Route("deed.free_text", deeds.report),
        Route("help.default", help.not_understood),
        linking.CONTACT_ROUTE,
    )


def routes() -> list[Route]:
    from handlers import deeds, help, linking, notices, optout, record, registration

    return [
        *optout.ROUTES,
        *help.ROUTES,
        *registration.ROUTES,
        *deeds.ROUTES,
        *record.ROUTES,
        *notices.ROUTES,
        *linking.ROUTES,
    ]
