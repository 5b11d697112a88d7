"""Leaders' commentary on a branch (点评 / DP) and briefings to the public (通报)."""

from __future__ import annotations

from handlers.base import Interceptor, Resumer, Route

ROUTES: list[Route] = []
# Hooks for text no keyword claimed (see Router): answers this module waits for.
INTERCEPTORS: list[tuple[str, Interceptor]] = []
RESUMERS: dict[str, Resumer] = {}
