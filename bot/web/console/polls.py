"""/console/o/<code>/polls: create a poll with the bot's preview (reach per channel, SMS
segments and cost), confirm or drop it, follow its turnout live, read a closed poll's
results with charts, and export them as CSV or XLSX.

One implementation, two doors: creating calls bot/polls.py create_polls and reach_and_cost
(as `评议` and `grassroots poll create` do), confirming and dropping call handlers/polls.py
send_drafts and drop_drafts (as `确认` / `取消` do), results follow bot/poll_table.py (the
CLI's `poll results --csv` rows). An open poll shows its turnout only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.exports import XLSX_TYPE, as_xlsx, csv_text
from bot.normalize import has_words
from bot.poll_table import CSV_HEADER, Row, cells, result_rows
from bot.polls import (
    MAX_OPTIONS,
    MIN_BREAKDOWN,
    audience,
    create_polls,
    poll_state,
    reach_and_cost,
    share,
)
from bot.reach import by_sms, chats
from bot.texts import Texts
from bot.web.console.access import (
    ConsoleUser,
    checked_form,
    context_for,
    csrf_input,
    org_for,
    require_user,
)
from bot.web.console.live import private_json
from bot.web.pages import link, not_found, render, texts_of
from handlers.permissions import Action
from handlers.polls import drop_drafts, send_drafts
from storage import audit
from storage.models import Org
from storage.poll_console import poll_ids_for_org
from storage.polls import AUDIENCE_ROLES, Poll, Tally

LIVE_SECONDS = 15  # how often an open poll's page asks for its turnout
_NO_STORE = {"cache-control": "no-store"}


def _app(request: Request) -> App:
    app: App = request.app.state.bot
    return app


def _zone(app: App, org: Org) -> ZoneInfo:
    return ZoneInfo(org.timezone) if org.timezone else app.config.zone


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


async def _scope(request: Request, action: Action) -> tuple[ConsoleUser, Texts, Org] | None:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], action, texts)
    return None if org is None else (user, texts, org)


async def _poll(app: App, org: Org, code: str) -> Poll | None:
    """The organisation's poll `code`; another organisation's is as unknown as none."""
    poll = await app.repos.polls.by_code(code)
    if poll is None or poll.org_id != org.id or poll.status == "cancelled":
        return None
    return poll


def _base(org: Org) -> str:
    return f"/console/o/{org.code}/polls"


async def index(request: Request) -> Response:
    scoped = await _scope(request, Action.POLL_RESULTS)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    return await _index(request, user, texts, org)


async def _index(
    request: Request,
    user: ConsoleUser,
    texts: Texts,
    org: Org,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    app = _app(request)
    zone, now = _zone(app, org), app.clock.now()
    polls = []
    for poll_id in await poll_ids_for_org(app.repos.db, org.id):
        poll = await app.repos.polls.get(poll_id)
        if poll is None:
            continue
        tally = await app.repos.polls.tally(poll)
        asked = audience(poll, tally)
        polls.append(
            {
                "code": poll.code,
                "question": poll.question_in(texts.language),
                "state": poll_state(poll, now),
                "closes": _local(poll.closes_at, zone),
                "answered": tally.participants,
                "audience": asked,
                "rate": share(tally.participants, asked),
            }
        )
    default_opens = now.astimezone(zone)
    default_closes = default_opens + timedelta(days=app.config.participation.poll_days)
    data = {
        "user": user,
        "csrf": csrf_input(user),
        "org": {"code": org.code, "name": org.name},
        "polls": polls,
        "audiences": list(AUDIENCE_ROLES),
        "form": form
        or {
            "question": "",
            "options": "",
            "audience": "public",
            "opens": default_opens.strftime("%Y-%m-%dT%H:%M"),
            "closes": default_closes.strftime("%Y-%m-%dT%H:%M"),
        },
        "error": error,
        "max_options": MAX_OPTIONS,
    }
    return render(
        request, "console/polls.html", data, status=400 if error else 200, headers=_NO_STORE
    )


def _when(value: str, zone: ZoneInfo) -> datetime | None:
    """A datetime-local field (2026-12-01T08:00) in the organisation's time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def create(request: Request) -> Response:
    """The form posted: drafts made by create_polls, then the preview page (PRG)."""
    scoped = await _scope(request, Action.CREATE_POLL)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    form = await checked_form(request, user)
    app = _app(request)
    zone, now = _zone(app, org), app.clock.now()
    given = {k: _field(form, k) for k in ("question", "options", "audience", "opens", "closes")}
    question = given["question"].strip()
    options = [line.strip() for line in given["options"].splitlines() if line.strip()]
    opens_at, closes_at = _when(given["opens"], zone), _when(given["closes"], zone)
    error = None
    if not has_words(question):
        error = "question"
    elif options and not 2 <= len(options) <= MAX_OPTIONS:
        error = "options"
    elif given["audience"] not in AUDIENCE_ROLES:
        error = "audience"
    elif opens_at is None or closes_at is None or closes_at <= max(opens_at, now):
        error = "times"
    if error is not None or opens_at is None or closes_at is None:
        message = texts.get(f"web.console.polls.error.{error}", max=MAX_OPTIONS)
        return await _index(request, user, texts, org, form=given, error=message)
    polls = await create_polls(
        app.repos,
        org_id=org.id,
        question=question,
        options=options,
        audience=given["audience"],
        opens_at=max(opens_at, now),
        closes_at=closes_at,
        status="draft",
        now=now,
        created_by=user.person_id,
        source=f"console:{uuid.uuid4().hex}",
    )
    reach, _ = await reach_and_cost(app.repos, polls[0], org.name, zone, app.config.bot.language)
    if not sum(reach.values()):  # as 评议 does: nobody to ask, no draft left behind
        await drop_drafts(context_for(request, user, texts), polls)
        message = texts.get(
            "web.console.polls.error.nobody",
            audience=texts.get(f"poll.audience.{given['audience']}"),
        )
        return await _index(request, user, texts, org, form=given, error=message)
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action="poll.create",
        org_id=org.id,
        detail=polls[0].code,
        at=now,
    )
    return RedirectResponse(link(request, f"{_base(org)}/{polls[0].code}"), status_code=303)


async def _decide(request: Request, confirm: bool) -> Response:
    scoped = await _scope(request, Action.CREATE_POLL)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    await checked_form(request, user)
    app = _app(request)
    poll = await _poll(app, org, request.path_params["poll"])
    if poll is None or poll.created_by != user.person_id:
        return not_found(request)  # 确认 is the author's, as by SMS
    ctx = context_for(request, user, texts)
    if poll.status == "draft":
        if confirm:
            await send_drafts(ctx, [poll], poll.opens_at)
        else:
            await drop_drafts(ctx, [poll])
        await audit.record(
            app.repos.db,
            person_id=user.person_id,
            action="poll.open" if confirm else "poll.drop",
            org_id=org.id,
            detail=poll.code,
            at=app.clock.now(),
        )
    target = f"{_base(org)}/{poll.code}" if confirm else _base(org)
    return RedirectResponse(link(request, target), status_code=303)


async def confirm(request: Request) -> Response:
    return await _decide(request, True)


async def drop(request: Request) -> Response:
    return await _decide(request, False)


def _turnout(poll: Poll, tally: Tally, state: str) -> dict[str, Any]:
    asked = audience(poll, tally)
    return {
        "code": poll.code,
        "state": state,
        "answered": tally.participants,
        "audience": asked,
        "rate": share(tally.participants, asked),
    }


async def show(request: Request) -> Response:
    """A poll's page, or its twins: `.json` (turnout only while open), `.csv`, `.xlsx`."""
    scoped = await _scope(request, Action.POLL_RESULTS)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    app = _app(request)
    code, _, suffix = request.path_params["poll"].partition(".")
    poll = await _poll(app, org, code)
    if poll is None or suffix not in ("", "json", "csv", "xlsx"):
        return not_found(request)
    zone, now = _zone(app, org), app.clock.now()
    state = poll_state(poll, now)
    tally = await app.repos.polls.tally(poll)
    live = _turnout(poll, tally, state)
    if suffix == "json":
        return private_json(live)
    closed = state == "closed"
    if suffix in ("csv", "xlsx"):
        if not closed:
            return not_found(request)  # nothing of an open poll but its turnout
        rows = await _rows(app, poll, tally)
        return _csv(poll, rows) if suffix == "csv" else _xlsx(poll, rows)
    data: dict[str, Any] = {
        "user": user,
        "csrf": csrf_input(user),
        "org": {"code": org.code, "name": org.name},
        "poll": {
            "code": poll.code,
            "question": poll.question_in(texts.language),
            "options": poll.options_in(texts.language),
            "audience": texts.get(f"poll.audience.{poll.audience}"),
            "opens": _local(poll.opens_at, zone),
            "closes": _local(poll.closes_at, zone),
            "mine": poll.created_by == user.person_id,
        },
        "state": state,
        "live": live,
        "live_seconds": LIVE_SECONDS,
        "preview": None,
        "scopes": [],
        "minimum": MIN_BREAKDOWN,
    }
    if state == "draft":
        reach, segments = await reach_and_cost(
            app.repos, poll, org.name, zone, app.config.bot.language
        )
        data["preview"] = {
            "people": sum(reach.values()),
            "sms": by_sms(reach),
            "chats": chats(reach),
            "segments": segments,
            "cost": segments * by_sms(reach),
        }
    elif closed:
        data["scopes"] = _scopes(await _rows(app, poll, tally), poll, texts)
    return render(request, "console/poll.html", data, headers=_NO_STORE)


async def _rows(app: App, poll: Poll, tally: Tally) -> list[Row]:
    names = {}
    for org_id in [poll.org_id, *tally.by_org]:
        found = await app.repos.orgs.by_id(org_id)
        names[org_id] = found.name if found else str(org_id)
    return result_rows(poll, tally, names)


def _scopes(rows: list[Row], poll: Poll, texts: Texts) -> list[dict[str, Any]]:
    """Rows grouped by scope for the charts; a hidden scope has no bars. Labels in the
    reader's language (the rows carry the poll's own)."""
    labels = poll.options_in(texts.language)
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.scope, []).append(row)
    scopes = []
    for scope, members in grouped.items():
        hidden = any(r.count is None for r in members)
        items = [
            (labels[i], (r.share or 0) / 100, f"{r.count} · {r.share}%")
            for i, r in enumerate(members)
        ]
        lead = max(range(len(members)), key=lambda i: members[i].count or 0)
        scopes.append({"name": scope, "hidden": hidden, "items": items, "lead": lead})
    return scopes


def _csv(poll: Poll, rows: list[Row]) -> Response:
    return Response(
        csv_text(CSV_HEADER, [cells(poll, row) for row in rows]),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{poll.code}.csv"', **_NO_STORE},
    )


def _xlsx(poll: Poll, rows: list[Row]) -> Response:
    """The CSV's rows in a workbook (bot/exports.py neutralises them the same way)."""
    return Response(
        as_xlsx(poll.code, CSV_HEADER, [cells(poll, row) for row in rows]),
        media_type=XLSX_TYPE,
        headers={"content-disposition": f'attachment; filename="{poll.code}.xlsx"', **_NO_STORE},
    )


def routes() -> list[BaseRoute]:
    base = "/console/o/{code}/polls"
    return [
        Route(base, index, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{poll}", show, methods=["GET"]),
        Route(base + "/{poll}/confirm", confirm, methods=["POST"]),
        Route(base + "/{poll}/drop", drop, methods=["POST"]),
    ]
