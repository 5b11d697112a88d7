"""The browser sandbox (/sandbox): talk to the bot as a person of the demo county."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
