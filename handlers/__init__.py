"""Channel-agnostic domain logic. Each module exposes ROUTES; `routes()` gathers them."""

from __future__ import annotations

from handlers.base import Route


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
