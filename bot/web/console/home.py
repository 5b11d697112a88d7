"""/console: the organisations the signed-in organiser runs, each a link to its page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.web.console.access import CONSOLE_ROLES, csrf_input, require_user
from bot.web.pages import render, texts_of

# The order a person's roles are named in, highest first.
_RANKS = ("admin", "leader", "secretary")


async def home(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    # One line per organisation, in the order the roster granted them; a person who is
    # both leader and admin of the county sees it once, with both roles.
    homes: dict[int, dict[str, str]] = {}
    roles: dict[int, set[str]] = {}
    for grant in user.record.grants:
        if grant.role in CONSOLE_ROLES:
            homes.setdefault(grant.org_id, {"code": grant.org_code, "name": grant.org_name})
            roles.setdefault(grant.org_id, set()).add(grant.role.value)
    for org_id, entry in homes.items():
        named = (texts.get(f"web.console.start.role.{r}") for r in _RANKS if r in roles[org_id])
        entry["roles"] = texts.get("web.console.start.role_separator").join(named)
    data = {"user": user, "csrf": csrf_input(user), "homes": list(homes.values())}
    return render(request, "console/home.html", data, headers={"cache-control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route("/console", home, methods=["GET"])]
