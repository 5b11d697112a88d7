"""Who is signed in to the console, and what they may see: the contract every console page
uses.

- `require_user(request)`: the signed-in organiser, or a redirect to the sign-in page.
- `org_for(request, user, code, action)`: the organisation, if the user may take `action`
  there by the same rules as the SMS commands (handlers/permissions.py); otherwise the page
  answers `not_found` exactly as for a code that does not exist.
- `checked_form(request, user)`: a POST's form, refused with 403 unless it carries the
  session's CSRF token (templates put `csrf_input(user)` in every form).
- `context_for(request, user)`: the handlers' Context for this user, so an action taken in
  the console runs the same service code as its SMS command.

A session is a row of console_sessions named by a random token; the cookie carries that
token signed with the deployment's secret (itsdangerous), so a cookie made for one
deployment is refused by another before any database read.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bot.app import App
from bot.messages import Address, AddressKind
from bot.texts import Texts
from handlers.base import Context, Sender
from handlers.permissions import Action, allowed
from storage.console_sessions import Session
from storage.models import Org, Role, SenderRecord

COOKIE = "grassroots_console"
IDLE = timedelta(hours=2)  # a session unused this long ends
MAX_AGE = timedelta(hours=12)  # and none outlives a working day
CONSOLE_ROLES = frozenset({Role.SECRETARY, Role.LEADER, Role.ADMIN})


class SignInRequired(Exception):
    """Raised by require_user; the console app answers with a redirect to sign-in."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    person_id: int
    name: str | None
    address: Address
    record: SenderRecord
    session: Session

    @property
    def is_admin(self) -> bool:
        return any(g.role == Role.ADMIN for g in self.record.grants)

    @property
    def homes(self) -> list[int]:
        """The organisations this user runs (secretary, leader or admin grants): the roots
        of what the console shows them."""
        return [g.org_id for g in self.record.grants if g.role in CONSOLE_ROLES]

    @property
    def csrf(self) -> str:
        return self.session.csrf


def _signer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="console-session")


def cookie_value(secret: bytes, token: str) -> str:
    """What the session cookie holds: the session's token, signed with the deployment's
    secret."""
    return str(_signer(secret).dumps(token))


def _secret(request: Request) -> bytes:
    app: App = request.app.state.bot
    return app.router.settings.secret_key


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie_value(_secret(request), token),
        max_age=int(MAX_AGE.total_seconds()),
        path="/console",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console")


async def current_user(request: Request) -> ConsoleUser | None:
    """The organiser signed in on this request, or None (no cookie, a forged or foreign
    one, an ended or expired session, or someone who no longer runs any organisation)."""
    if hasattr(request.state, "console_user"):
        return request.state.console_user  # type: ignore[no-any-return]
    request.state.console_user = None
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        token = _signer(_secret(request)).loads(raw)
    except BadSignature:
        return None
    if not isinstance(token, str):
        return None
    app: App = request.app.state.bot
    repos, now = app.repos, app.clock.now()
    session = await repos.console_sessions.find(token, now, IDLE, MAX_AGE)
    if session is None:
        return None
    found = await repos.console_sessions.address_of(session.person_id)
    if found is None:
        return None
    address = Address(AddressKind(found[0]), found[1])
    record = await repos.people.resolve(address)
    if not any(g.role in CONSOLE_ROLES for g in record.grants):
        return None  # the roster took their role away: the session ends with it
    user = ConsoleUser(session.person_id, record.name, address, record, session)
    request.state.console_user = user
    return user


async def require_user(request: Request) -> ConsoleUser:
    user = await current_user(request)
    if user is None:
        raise SignInRequired
    return user


def csrf_input(user: ConsoleUser) -> Markup:
    return Markup(f'<input type="hidden" name="csrf" value="{escape(user.csrf)}">')


async def checked_form(request: Request, user: ConsoleUser) -> FormData:
    """The POSTed form, if it carries this session's CSRF token; 403 otherwise."""
    form = await request.form()
    given = form.get("csrf")
    if not isinstance(given, str) or not hmac.compare_digest(given, user.csrf):
        raise HTTPException(403, "the form's security token is missing or stale")
    return form


def context_for(request: Request, user: ConsoleUser, texts: Texts) -> Context:
    """The Context a handler would get for a message from this user: service functions and
    permission checks take it, so the console and the SMS command share one code path."""
    app: App = request.app.state.bot
    return Context(
        Sender(user.address, user.record), app.repos, texts, app.clock, app.router.settings
    )


async def org_for(
    request: Request, user: ConsoleUser, code: str, action: Action, texts: Texts
) -> Org | None:
    """The organisation `code` if `user` may take `action` on it, else None: the page then
    answers as for a code that does not exist (no way to learn what exists outside one's
    scope)."""
    app: App = request.app.state.bot
    org = await app.repos.orgs.by_code(code.upper())
    if org is None:
        return None
    if not await allowed(context_for(request, user, texts), action, org.id):
        return None
    return org
