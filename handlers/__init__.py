"""Channel-agnostic domain logic. Each module exposes ROUTES (and, if it waits for answers,
INTERCEPTORS and RESUMERS); the functions below gather them for the router."""

from __future__ import annotations

from types import ModuleType

from handlers.base import Interceptor, Resumer, Route


def default_routes() -> tuple[Route, Route, Route]:
    """What the router does with text no keyword claimed (a member's report; else everyday
    words, a villager's message to the branch, or help), and with a shared phone number."""
    from handlers import deeds, help, linking

    return (
        Route("deed.free_text", deeds.report),
        Route("help.default", help.not_understood),
        linking.CONTACT_ROUTE,
    )


def _modules() -> list[ModuleType]:
    from handlers import (
        binding,
        branch_report,
        commentary,
        comments,
        commitments,
        deeds,
        featured,
        help,
        language,
        linking,
        notices,
        optout,
        polls,
        public_messages,
        public_notices,
        recommendations,
        record,
        registration,
    )

    # Order matters only among prefix keywords of equal length; longer ones win anyway.
    return [
        optout,
        help,
        language,
        registration,
        deeds,
        record,
        branch_report,
        notices,
        linking,
        binding,
        polls,
        comments,
        commitments,
        recommendations,
        public_notices,
        commentary,
        public_messages,
        featured,
    ]


def routes() -> list[Route]:
    return [route for module in _modules() for route in module.ROUTES]


def interceptors() -> list[tuple[str, Interceptor]]:
    return [pair for module in _modules() for pair in getattr(module, "INTERCEPTORS", [])]


def resumers() -> dict[str, Resumer]:
    found: dict[str, Resumer] = {}
    for module in _modules():
        for kind, resume in getattr(module, "RESUMERS", {}).items():
            assert kind not in found, f"two resumers for {kind}"
            found[kind] = resume
    return found
