"""Signing in to the console and out of it, and `revoke` (every session of a person).

    GET  /console/sign-in        the number form (`next`: where to go once signed in)
    POST /console/sign-in        send a code; the code form (the same page for any number)
    POST /console/sign-in/code   check the code; a session cookie and a redirect to `next`
    POST /console/sign-out       end this session (the frame's form, CSRF-checked)

Before sign-in there is no session to carry a CSRF token, so the two sign-in forms use a
double-submitted one: a random cookie, and its HMAC under the deployment's secret in the
form. A page of another site can make a browser post, but not read or forge that pair.
`next` is followed only to a path of the console itself: never to another site.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.messages import Address, AddressKind
from bot.phones import to_e164
from bot.web.console import codes
from bot.web.console.access import (
    IDLE,
    checked_form,
    clear_session_cookie,
    current_user,
    set_session_cookie,
)
from bot.web.pages import link, render
from storage import audit

log = logging.getLogger(__name__)

FORM_COOKIE = "grassroots_console_form"
HOME = "/console"


def safe_next(value: object) -> str:
    """`value` if it is a path of the console (not a sign-in page), else the console's
    home: a link that signs someone in must not send them to another site afterwards."""
    if not isinstance(value, str) or not value or any(c in value for c in "\\\r\n\t\0"):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return HOME
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return HOME
    if parts.path.startswith(HOME + "/sign-"):
        return HOME
    return value


def client_of(request: Request) -> str:
    """The client's address: uvicorn puts the proxy's X-Forwarded-For here when the proxy
    is trusted (--forwarded-allow-ips), so each client is limited, not the proxy."""
    return request.client.host if request.client else "unknown"


def _app(request: Request) -> App:
    return request.app.state.bot  # type: ignore[no-any-return]


# --- the sign-in forms' CSRF token ---------------------------------------------------------


def _form_mac(app: App, token: str) -> str:
    key = b"console-sign-in-form:" + app.router.settings.secret_key
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _form_token(request: Request) -> str:
    token = request.cookies.get(FORM_COOKIE)
    if not token or len(token) > 64:
        token = secrets.token_urlsafe(24)
    return token


async def _checked_sign_in_form(request: Request) -> FormData:
    form = await request.form()
    token = request.cookies.get(FORM_COOKIE)
    given = form.get("csrf")
    if (
        not token
        or not isinstance(given, str)
        or not hmac.compare_digest(given, _form_mac(_app(request), token))
    ):
        raise HTTPException(403, "the form's security token is missing or stale")
    return form


def _page(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """A sign-in page, its forms carrying the token that matches the browser's cookie."""
    token = _form_token(request)
    hidden = f'<input type="hidden" name="csrf" value="{escape(_form_mac(_app(request), token))}">'
    response = render(
        request,
        template,
        {"form_token": Markup(hidden), "error": None, "phone": "", **data},
        status=status,
        headers={"cache-control": "no-store"},
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        path=HOME,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )
    return response


def _minutes() -> int:
    return int(codes.CODE_TTL.total_seconds() // 60)


# --- the pages ------------------------------------------------------------------------------


async def sign_in_page(request: Request) -> Response:
    target = safe_next(request.query_params.get("next"))
    if await current_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return _page(request, "console/signin.html", {"next": target, "signed_out": signed_out})


async def ask_for_code(request: Request) -> Response:
    form = await _checked_sign_in_form(request)
    target = safe_next(form.get("next"))
    raw = form.get("phone")
    phone = to_e164(raw) if isinstance(raw, str) else None
    data: dict[str, Any] = {"next": target, "signed_out": False}
    if phone is None:
        typed = raw[:32] if isinstance(raw, str) else ""
        return _page(
            request,
            "console/signin.html",
            {**data, "phone": typed, "error": codes.Refusal.BAD_PHONE.value},
            status=400,
        )
    app = _app(request)
    refusal = await codes.ask(app, phone, client_of(request))
    if refusal is not None:
        return _page(
            request, "console/signin.html", {**data, "phone": phone, "error": refusal.value}, 429
        )
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.poke()  # the code goes out now, not at the next tick
    return _page(
        request, "console/signin_code.html", {**data, "phone": phone, "minutes": _minutes()}
    )


async def check_code(request: Request) -> Response:
    form = await _checked_sign_in_form(request)
    target = safe_next(form.get("next"))
    raw_phone, raw_code = form.get("phone"), form.get("code")
    phone = to_e164(raw_phone) if isinstance(raw_phone, str) else None
    if phone is None:
        return RedirectResponse(link(request, "/console/sign-in", next=target), status_code=303)
    app = _app(request)
    code = raw_code[:32] if isinstance(raw_code, str) else ""
    result = await codes.guess(app, phone, code, client_of(request))
    if isinstance(result, codes.Refusal):
        status = 429 if result is codes.Refusal.TOO_MANY else 400
        data = {"next": target, "phone": phone, "minutes": _minutes(), "error": result.value}
        return _page(request, "console/signin_code.html", data, status)
    now = app.clock.now()
    token, session = await app.repos.console_sessions.open(result.person_id, now, IDLE)
    await audit.record(app.repos.db, person_id=result.person_id, action="console.sign_in", at=now)
    log.info("console: person %s signed in (session %s)", result.person_id, session.id)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(FORM_COOKIE, path=HOME)
    return response


async def code_page(request: Request) -> Response:
    """The code form's address opened directly (a language switch): back to the start."""
    return RedirectResponse(link(request, "/console/sign-in"), status_code=303)


async def sign_out(request: Request) -> Response:
    user = await current_user(request)
    response = RedirectResponse(link(request, "/console/sign-in", signed_out=1), status_code=303)
    if user is not None:
        await checked_form(request, user)
        app = _app(request)
        now = app.clock.now()
        await app.repos.console_sessions.end(user.session.id, now)
        await audit.record(
            app.repos.db, person_id=user.person_id, action="console.sign_out", at=now
        )
    clear_session_cookie(response)
    return response


async def revoke(app: App, phone: str, by: int | None = None) -> tuple[str, int] | None:
    """End every console session of the person holding `phone` (`grassroots console
    revoke`): their name and how many sessions ended, or None for a number nobody holds.
    `by`: who revoked (None: the operator at the server's shell)."""
    record = await app.repos.people.resolve(Address(AddressKind.SMS, phone))
    if record.person_id is None:
        return None
    now = app.clock.now()
    ended = await app.repos.console_sessions.end_all(record.person_id, now)
    name = record.name or ""
    detail = f"#{record.person_id} {name}: {ended}"
    await audit.record(app.repos.db, person_id=by, action="console.revoke", detail=detail, at=now)
    return name, ended


def routes() -> list[BaseRoute]:
    return [
        Route("/console/sign-in", sign_in_page, methods=["GET"]),
        Route("/console/sign-in", ask_for_code, methods=["POST"]),
        Route("/console/sign-in/code", check_code, methods=["POST"]),
        Route("/console/sign-in/code", code_page, methods=["GET"]),
        Route("/console/sign-out", sign_out, methods=["POST"]),
    ]
