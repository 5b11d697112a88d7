"""/console/o/<code>/roster: upload organisations and people as CSV or XLSX, and download
the subtree's roster in the same format.

An upload runs bot/roster.py, the importer `grassroots import-orgs` / `import-people` runs
(one implementation), confined to the page's subtree (a Scope): rows for organisations
outside it, or granting a role above the uploader's, are refused line by line with the
CLI's own `FILE:LINE: reason` texts. Every upload and download is written to the audit log.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.exports import XLSX_TYPE, as_xlsx
from bot.roster import (
    ImportReport,
    RosterFileError,
    Scope,
    Upload,
    import_orgs,
    import_people,
)
from bot.roster_files import (
    ORG_HEADER,
    PEOPLE_HEADER,
    WIDTHS,
    as_csv,
    org_rows,
    people_rows,
)
from bot.texts import Texts
from bot.web.console.access import ConsoleUser, checked_form, csrf_input, org_for, require_user
from bot.web.pages import not_found, render, texts_of
from handlers.permissions import Action
from storage import audit
from storage.models import Org, Role

MAX_UPLOAD = 2 * 1024 * 1024  # a county's roster of 10,000 people is well under 1 MB
KINDS = ("orgs", "people")
FORMATS = ("csv", "xlsx")
_NO_STORE = {"cache-control": "no-store"}


async def _scope(app: App, user: ConsoleUser, org: Org) -> Scope:
    """The page's subtree, and the roles its uploader may grant: an admin any, a leader
    above it any but admin, a secretary members, secretaries and villagers."""
    subtree = frozenset(await app.repos.orgs.subtree_ids(org.id))
    if user.is_admin:
        roles = frozenset(Role)
    else:
        above = set(await app.repos.orgs.ancestor_ids(org.id)) | {org.id}
        leads = any(g.role == Role.LEADER and g.org_id in above for g in user.record.grants)
        roles = (
            frozenset(Role) - {Role.ADMIN}
            if leads
            else frozenset({Role.MEMBER, Role.SECRETARY, Role.PUBLIC})
        )
    return Scope(org.id, subtree, roles)


def _page(
    request: Request,
    user: ConsoleUser,
    org: Org,
    result: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    data = {"user": user, "csrf": csrf_input(user), "org": org, "result": result}
    return render(request, "console/roster.html", data, status=status, headers=_NO_STORE)


def _result(texts: Texts, what: str, name: str, report: ImportReport) -> dict[str, object]:
    summary = texts.get(
        "cli.import.summary",
        what=texts.get(f"cli.import.{what}"),
        imported=report.imported,
        rejected=len(report.errors),
        rows=report.rows,
    )
    if report.revoked:
        summary += texts.get("cli.import.revoked", count=report.revoked)
    return {
        "summary": summary,
        "errors": [f"{name}:{e.line}: {e.text(texts)}" for e in report.errors],
        "notes": [f"{name}:{n.line}: {n.text(texts)}" for n in report.notes],
        "failed": None,
    }


async def roster_page(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.MANAGE_ROSTER, texts)
    if org is None:
        return not_found(request)
    return _page(request, user, org)


async def upload(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.MANAGE_ROSTER, texts)
    if org is None:
        return not_found(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD + 64 * 1024:
        return _failed(request, user, org, texts.get("web.console.roster.too_big", mb=2), 413)
    form = await checked_form(request, user)
    what, file = form.get("what"), form.get("file")
    if what not in KINDS or not isinstance(file, UploadFile) or not file.filename:
        return _failed(request, user, org, texts.get("web.console.roster.no_file"), 400)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _failed(request, user, org, texts.get("web.console.roster.too_big", mb=2), 413)
    app: App = request.app.state.bot
    name = file.filename.replace("/", "_").replace("\\", "_")[-80:]
    source, now = Upload(name, data), app.clock.now()
    scope = await _scope(app, user, org)
    try:
        if what == "orgs":
            report = await import_orgs(app.repos, source, now, scope=scope)
        else:
            report = await import_people(
                app.repos,
                source,
                now,
                region=app.config.bot.default_region,
                replace=form.get("replace") == "on",
                rename=form.get("rename") == "on",
                scope=scope,
            )
    except RosterFileError as exc:
        return _failed(request, user, org, exc.text(texts), 400)
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action=f"roster.import_{what}",
        org_id=org.id,
        detail=f"{name}: {report.imported}/{report.rows} imported, "
        f"{len(report.errors)} rejected, {report.revoked} revoked",
        at=now,
    )
    return _page(request, user, org, _result(texts, what, name, report))


def _failed(request: Request, user: ConsoleUser, org: Org, reason: str, status: int) -> Response:
    result: dict[str, object] = {"summary": "", "errors": [], "notes": [], "failed": reason}
    return _page(request, user, org, result, status)


async def download(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.MANAGE_ROSTER, texts)
    what, fmt = request.path_params["what"], request.path_params["fmt"]
    if org is None or what not in KINDS or fmt not in FORMATS:
        return not_found(request)
    app: App = request.app.state.bot
    header: tuple[str, ...]
    if what == "orgs":
        header, rows = ORG_HEADER[texts.language], await org_rows(app.repos.db, org.id)
    else:
        header, rows = (
            PEOPLE_HEADER[texts.language],
            await people_rows(app.repos.db, org.id, app.config.bot.default_region),
        )
    filename = f"{org.code}-{what}.{fmt}"
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action="roster.export",
        org_id=org.id,
        detail=f"{filename}: {len(rows)} rows",
        at=app.clock.now(),
    )
    if fmt == "csv":
        body, media = as_csv(header, rows), "text/csv; charset=utf-8"
    else:
        body, media = as_xlsx(what, header, rows, WIDTHS), XLSX_TYPE
    disposition = f'attachment; filename="{filename}"'
    return Response(
        body, media_type=media, headers={"content-disposition": disposition, **_NO_STORE}
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/console/o/{code}/roster", roster_page, methods=["GET"]),
        Route("/console/o/{code}/roster", upload, methods=["POST"]),
        Route("/console/o/{code}/roster/{what}.{fmt}", download, methods=["GET"]),
    ]
