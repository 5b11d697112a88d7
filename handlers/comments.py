"""Comments (评论 / PL) on a branch, and their moderation by the secretary."""

from __future__ import annotations

from handlers.base import Interceptor, Resumer, Route

ROUTES: list[Route] = []
# Hooks for text no keyword claimed (see Router): answers this module waits for.
INTERCEPTORS: list[tuple[str, Interceptor]] = []
RESUMERS: dict[str, Resumer] = {}
