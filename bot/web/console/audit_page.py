"""/console/audit: the audit log, newest first, fifty entries a page; admins only (anyone
else gets the 404 of a page that does not exist)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.texts import Texts
from bot.web.console.access import csrf_input, require_user
from bot.web.pages import not_found, render, texts_of
from storage import audit

PAGE = 50


def _action(texts: Texts, action: str) -> str:
    """An action's name in the reader's language, if it has one (other helpers' actions
    may not yet)."""
    try:
        return texts.get(f"web.console.audit.actions.{action}")
    except KeyError:
        return action


async def audit_log(request: Request) -> Response:
    user = await require_user(request)
    if not user.is_admin:
        return not_found(request)
    app: App = request.app.state.bot
    texts = texts_of(request)
    raw = request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 12 else None
    entries = await audit.newest(app.repos.db, before=before, limit=PAGE + 1)
    shown = entries[:PAGE]
    zone = app.config.zone
    rows = [
        {
            "when": e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "who": e.person_name or texts.get("web.console.audit.operator"),
            "what": _action(texts, e.action),
            "org": f"{e.org_code} {e.org_name}" if e.org_code else "",
            "detail": e.detail,
        }
        for e in shown
    ]
    data = {
        "user": user,
        "csrf": csrf_input(user),
        "entries": rows,
        "older": shown[-1].id if len(entries) > PAGE else None,
        "paged": before is not None,
    }
    return render(request, "console/audit.html", data, headers={"cache-control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route("/console/audit", audit_log, methods=["GET"])]
