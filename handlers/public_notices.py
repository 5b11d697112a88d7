"""Public notice of a shortlist (公示), objections (异议 / YY) and outcomes."""

from __future__ import annotations

from handlers.base import Interceptor, Resumer, Route

ROUTES: list[Route] = []
# Hooks for text no keyword claimed (see Router): answers this module waits for.
INTERCEPTORS: list[tuple[str, Interceptor]] = []
RESUMERS: dict[str, Resumer] = {}
