"""/console/o/<code>/broadcasts: compose a notice with its preview (reach, SMS segments times
reach, and when quiet hours will hold it), send it, follow its progress live, read who it
failed to reach and why, and cancel what has not gone yet.

Sending is handlers/notices.py `send`, the code behind `通知` by SMS; progress is the
outbox's BroadcastStatus, as `grassroots broadcast status` shows it. Phones are masked.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.config import Config
from bot.fallback import limit_lines
from bot.normalize import has_words
from bot.privacy import mask_phone
from bot.reach import by_sms, chats_text
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
from handlers import notices
from handlers.base import Context
from handlers.permissions import Action
from storage import audit, broadcast_console, platform_limits
from storage.models import Org, Role
from storage.outbox import BroadcastStatus

LIVE_SECONDS = 5  # how often a broadcast's page asks for its progress
ROLES = (Role.MEMBER, Role.SECRETARY, Role.PUBLIC, Role.LEADER)  # who one may address
_CANCELLABLE = ("notice", "broadcast")  # a poll's invitations are the poll's to stop
_NO_STORE = {"cache-control": "no-store"}


def _app(request: Request) -> App:
    app: App = request.app.state.bot
    return app


def _zone(config: Config, org: Org) -> ZoneInfo:
    return ZoneInfo(org.timezone) if org.timezone else config.zone


async def _scope(request: Request) -> tuple[ConsoleUser, Texts, Org] | None:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.NOTICE, texts)
    return None if org is None else (user, texts, org)


def _base(org: Org) -> str:
    return f"/console/o/{org.code}/broadcasts"


def _draft(user: ConsoleUser, org: Org, text: str, urgent: bool, roles: list[str]) -> notices.Draft:
    """As 通知 by SMS: a secretary speaks to their branch, a leader or admin to the subtree."""
    own_branch = any(g.org_id == org.id and g.role == Role.SECRETARY for g in user.record.grants)
    return notices.Draft(
        org_id=org.id,
        org_name=org.name,
        text=text,
        urgent=urgent,
        include_subtree=not own_branch,
        source=f"console:{uuid.uuid4().hex}",
        roles=tuple(roles),
    )


def _form(request_form: Any) -> tuple[str, bool, list[str]]:
    text = request_form.get("text")
    roles = [r for r in request_form.getlist("roles") if r in {x.value for x in ROLES}]
    return (
        text.strip() if isinstance(text, str) else "",
        request_form.get("urgent") == "1",
        roles,
    )


async def index(request: Request) -> Response:
    """The list and the compose form; with the form's fields in the query (its preview
    button is a GET), the preview: reach, cost, and when quiet hours let it go."""
    scoped = await _scope(request)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    asked = "text" in request.query_params
    if asked:
        text, urgent, roles = _form(request.query_params)
    else:
        text, urgent, roles = "", False, [r.value for r in notices.NOTICE_AUDIENCE]
    data = await _page(request, user, org, text, urgent, roles)
    if not asked:
        return render(request, "console/broadcasts.html", data, headers=_NO_STORE)
    ctx = context_for(request, user, texts)
    draft = _draft(user, org, text, urgent, roles)
    reach = await _check(ctx, draft, data)
    if reach is None:
        return render(request, "console/broadcasts.html", data, status=400, headers=_NO_STORE)
    now = _app(request).clock.now()
    segments = notices.segments_of(ctx, draft)
    held = notices.held_until(ctx, draft, reach, now)
    data["preview"] = {
        "sms": by_sms(reach),
        "chats": chats_text(texts, reach),
        "segments": segments,
        "cost": segments * by_sms(reach),
        "held": notices.when_text(ctx, held, now) if held else None,
    }
    return render(request, "console/broadcasts.html", data, headers=_NO_STORE)


async def _page(
    request: Request, user: ConsoleUser, org: Org, text: str, urgent: bool, roles: list[str]
) -> dict[str, Any]:
    app = _app(request)
    zone = _zone(app.config, org)
    listed = [
        {
            "id": b.id,
            "kind": b.kind,
            "body": b.body,
            "when": b.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
            "total": b.total,
            "waiting": b.waiting,
            "failed": b.failed,
        }
        for b in await broadcast_console.for_org(app.repos.db, org.id)
    ]
    return {
        "user": user,
        "csrf": csrf_input(user),
        "org": {"code": org.code, "name": org.name},
        "broadcasts": listed,
        "roles": [r.value for r in ROLES],
        "form": {"text": text, "urgent": urgent, "roles": roles},
        "preview": None,
        "error": None,
    }


async def _check(ctx: Context, draft: notices.Draft, data: dict[str, Any]) -> dict[str, int] | None:
    """The draft's reach, or None with the error in `data`."""
    if not has_words(draft.text):
        data["error"] = ctx.texts.get("web.console.broadcasts.error.empty")
        return None
    if not draft.roles:
        data["error"] = ctx.texts.get("web.console.broadcasts.error.roles")
        return None
    reach = await notices.reach(ctx, draft)
    if not sum(reach.values()):
        data["error"] = ctx.texts.get("broadcast.nobody", org=draft.org_name)
        return None
    return reach


async def send(request: Request) -> Response:
    """POST: `preview` goes to the preview page; `send` queues the notice through
    notices.send (as 通知 by SMS) and goes to its page."""
    scoped = await _scope(request)
    if scoped is None:
        return not_found(request)
    user, texts, org = scoped
    form = await checked_form(request, user)
    text, urgent, roles = _form(form)
    if form.get("action") != "send":  # the preview is a page of its own (no token in it)
        base = link(request, _base(org))
        query = urlencode({"text": text, "roles": roles, "urgent": "1" if urgent else ""}, True)
        joiner = "&" if "?" in base else "?"
        return RedirectResponse(f"{base}{joiner}{query}", status_code=303)
    draft = _draft(user, org, text, urgent, roles)
    ctx = context_for(request, user, texts)
    data = await _page(request, user, org, text, urgent, roles)
    reach = await _check(ctx, draft, data)
    if reach is None:
        return render(request, "console/broadcasts.html", data, status=400, headers=_NO_STORE)
    queued = await notices.send(ctx, draft, reach)
    if queued is None:  # the day's limit of notices, as by SMS
        data["error"] = ctx.replies[-1].body if ctx.replies else ""
        return render(request, "console/broadcasts.html", data, status=429, headers=_NO_STORE)
    app = _app(request)
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action="broadcast.send",
        org_id=org.id,
        detail=f"#{queued.broadcast} ({queued.count})",
        at=app.clock.now(),
    )
    return RedirectResponse(link(request, f"{_base(org)}/{queued.broadcast}"), status_code=303)


async def _broadcast(app: App, org: Org, raw: str) -> BroadcastStatus | None:
    if not raw.isdigit():
        return None
    broadcast_id = int(raw)
    if await broadcast_console.org_of(app.repos.db, broadcast_id) != org.id:
        return None  # another organisation's broadcast is as unknown as none
    return await app.repos.outbox.broadcast_status(broadcast_id)


def progress(status: BroadcastStatus, rate: float) -> dict[str, Any]:
    """The figures `grassroots broadcast status` prints, as data."""
    waiting = status.counts.get("pending", 0) + status.counts.get("sending", 0)
    return {
        "id": status.id,
        "total": status.total,
        "sent": status.counts.get("sent", 0),
        "delivered": status.counts.get("delivered", 0),
        "failed": status.counts.get("failed", 0),
        "cancelled": status.counts.get("cancelled", 0),
        "waiting": waiting,
        "in_flight": status.counts.get("sending", 0),
        "eta_seconds": round(waiting / rate) if rate else None,
        "done": status.done >= status.total,
    }


def _rate(config: Config) -> float:
    return config.outbox.rate.sms if config.twilio.enabled else config.outbox.rate.console


async def show(request: Request) -> Response:
    """A broadcast's progress, or its `.json` twin the page polls."""
    scoped = await _scope(request)
    if scoped is None:
        return not_found(request)
    user, _, org = scoped
    app = _app(request)
    raw, _, suffix = request.path_params["broadcast"].partition(".")
    status = await _broadcast(app, org, raw)
    if status is None or suffix not in ("", "json"):
        return not_found(request)
    live = progress(status, _rate(app.config))
    if suffix == "json":
        return private_json(live)
    failed = [
        {
            "name": f.name or "",
            "address": mask_phone(f.address) if f.address_kind == "sms" else f.address_kind,
            "reason": " ".join(x for x in (f.error_code or "", f.error or "") if x),
        }
        for f in await broadcast_console.failures(app.repos.db, status.id)
    ]
    limits = await platform_limits.for_broadcast(app.repos.db, status.id)
    data = {
        "user": user,
        "csrf": csrf_input(user),
        "org": {"code": org.code, "name": org.name},
        "broadcast": {"id": status.id, "kind": status.kind, "body": status.body},
        "limits": limit_lines(texts_of(request), limits),  # why chats were not reached
        "live": live,
        "live_seconds": LIVE_SECONDS,
        "failed": failed,
        "cancellable": status.kind in _CANCELLABLE and live["waiting"] > live["in_flight"],
        "cancelled_now": _counts(request, "cancelled", "in_flight"),
    }
    return render(request, "console/broadcast.html", data, headers=_NO_STORE)


async def cancel(request: Request) -> Response:
    scoped = await _scope(request)
    if scoped is None:
        return not_found(request)
    user, _, org = scoped
    await checked_form(request, user)
    app = _app(request)
    status = await _broadcast(app, org, request.path_params["broadcast"])
    if status is None or status.kind not in _CANCELLABLE:
        return not_found(request)
    now = app.clock.now()
    stopped, in_flight = await broadcast_console.cancel_waiting(app.repos.db, status.id, now)
    await audit.record(
        app.repos.db,
        person_id=user.person_id,
        action="broadcast.cancel",
        org_id=org.id,
        detail=f"#{status.id} ({stopped})",
        at=now,
    )
    target = link(request, f"{_base(org)}/{status.id}", cancelled=stopped, in_flight=in_flight)
    return RedirectResponse(target, status_code=303)


def _counts(request: Request, *names: str) -> dict[str, int] | None:
    """What a cancel did, carried to the page it redirects to."""
    values = [request.query_params.get(name, "") for name in names]
    if not all(v.isdigit() for v in values):
        return None
    return {name: int(v) for name, v in zip(names, values, strict=True)}


def routes() -> list[BaseRoute]:
    base = "/console/o/{code}/broadcasts"
    return [
        Route(base, index, methods=["GET"]),
        Route(base, send, methods=["POST"]),
        Route(base + "/{broadcast}", show, methods=["GET"]),
        Route(base + "/{broadcast}/cancel", cancel, methods=["POST"]),
    ]
