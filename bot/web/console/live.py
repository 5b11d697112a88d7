"""The small JSON the console's live pages poll (a poll's turnout, a notice's progress)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from bot.web.pages import as_json


def private_json(data: dict[str, Any]) -> Response:
    """As the pages' JSON twins, but an organiser's: no cross-origin reading, no caching."""
    response = as_json(data)
    del response.headers["access-control-allow-origin"]
    response.headers["cache-control"] = "no-store"
    return response
