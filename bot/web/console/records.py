"""/console/o/<code>/records: the records for commendation of a branch or subtree for a
period (bot/records.py), as one XLSX workbook; without a period, the form that asks for
one. Every export is written to the audit log: who exported which organisation's records,
for which period."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.exports import XLSX_TYPE
from bot.records import build, filename, parse_period
from bot.web.console.access import csrf_input, org_for, require_user
from bot.web.pages import not_found, render, texts_of
from handlers.permissions import Action
from storage import audit

_NO_STORE = {"cache-control": "no-store"}


async def records(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.EXPORT_RECORDS, texts)
    if org is None:
        return not_found(request)
    app: App = request.app.state.bot
    zone = app.config.zone
    today = app.clock.now().astimezone(zone).date()
    raw_from = request.query_params.get("from", "")
    raw_to = request.query_params.get("to", "")
    period = parse_period(raw_from, raw_to)
    if period is None:
        data = {
            "user": user,
            "csrf": csrf_input(user),
            "org": org,
            "start": raw_from or date(today.year, 1, 1).isoformat(),
            "end": raw_to or today.isoformat(),
            "invalid": bool(raw_from or raw_to),
        }
        status = 400 if data["invalid"] else 200
        return render(request, "console/records.html", data, status=status, headers=_NO_STORE)
    body, counts = await build(app.repos, texts, org, period, zone, today)
    name = filename(org, period)
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action="records.export",
        org_id=org.id,
        detail=f"{period.start}..{period.end}: "
        + ", ".join(f"{sheet} {n}" for sheet, n in counts.items()),
        at=app.clock.now(),
    )
    # The Chinese name for the reader's download folder, an ASCII one for old clients.
    local = texts.get("web.console.records.file", code=org.code, period=period.label)
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(local)}"
    return Response(
        body, media_type=XLSX_TYPE, headers={"content-disposition": disposition, **_NO_STORE}
    )


def routes() -> list[BaseRoute]:
    return [Route("/console/o/{code}/records", records, methods=["GET"])]
