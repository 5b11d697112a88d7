"""A short note of what a console form did, carried across its redirect (POST/redirect/GET):
a cookie signed with the deployment's secret, read once by the next page and then cleared.

Signed, so that nobody can make the console show words of their choosing; short-lived and
scoped to /console, so a note never outlives the page it belongs to.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from bot.app import App

COOKIE = "grassroots_flash"
MAX_AGE = 120  # seconds: the redirect is followed at once
MOST = 300  # characters: a note is a sentence or two


def _signer(request: Request) -> URLSafeSerializer:
    app: App = request.app.state.bot
    return URLSafeSerializer(app.router.settings.secret_key, salt="console-flash")


def set_flash(request: Request, response: Response, note: str) -> None:
    response.set_cookie(
        COOKIE,
        str(_signer(request).dumps(note[:MOST])),
        max_age=MAX_AGE,
        path="/console",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def take_flash(request: Request, response: Response) -> None:
    """Clear the note on `response` if the request carried one (it has been shown)."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/console")


def read_flash(request: Request) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        note = _signer(request).loads(raw)
    except BadSignature:
        return None
    return note if isinstance(note, str) else None
