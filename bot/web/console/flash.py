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


def set_flash(request: Request, response: Response, note: str, at: str = "") -> None:
    """`at`: the id of the element the note is about (the card whose button was pressed),
    so that the page can show it there, where the reader is."""
    response.set_cookie(
        COOKIE,
        str(_signer(request).dumps([note[:MOST], at[:64]])),
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


def read_flash(request: Request) -> tuple[str, str] | None:
    """The note and the id of the element it is about, if the request carries one."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        found = _signer(request).loads(raw)
    except BadSignature:
        return None
    if not (isinstance(found, list) and len(found) == 2 and all(isinstance(x, str) for x in found)):
        return None
    return found[0], found[1]
