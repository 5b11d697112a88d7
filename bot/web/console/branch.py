"""The console's branch page, /console/o/<code>/branch: a branch secretary's week at a glance
and the buttons they would otherwise text.

What it shows: members with their reports and streaks; the branch's deeds (a page at a
time) with a button to feature one on the public pages; commitments; polls with the results
of closed ones (by the rules of bot/polls.py: nothing of an open poll but its turnout, no
breakdown under MIN_BREAKDOWN answers); comments with hide and publish; villagers' messages
(群众留言); recommendations, the shortlist, the public notice with its objections (who
objected only to those allowed SEE_OBJECTORS) and the outcomes.

Every form is a door onto the same function as its SMS command (handlers/...), called with
the signed-in person's Context: the console adds no rule of its own. A POST is checked for
its CSRF token, done, written to the audit log, and answered with a redirect back to the page
with a short note of what happened (POST/redirect/GET).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.texts import Texts
from bot.web.console.access import (
    ConsoleUser,
    checked_form,
    context_for,
    csrf_input,
    org_for,
    require_user,
)
from bot.web.console.branch_data import K, branch_data
from bot.web.console.flash import read_flash, set_flash, take_flash
from bot.web.pages import link, not_found, render, texts_of
from handlers import comments, featured, public_messages
from handlers.base import Context
from handlers.permissions import Action
from storage import audit
from storage.models import Org


def routes() -> list[BaseRoute]:
    return [
        Route("/console/o/{code}/branch", branch_page, methods=["GET"]),
        Route("/console/o/{code}/branch/deed", feature_deed, methods=["POST"]),
        Route("/console/o/{code}/branch/comment", moderate_comment, methods=["POST"]),
        Route("/console/o/{code}/branch/message", read_message, methods=["POST"]),
    ]


def _path(org: Org) -> str:
    return f"/console/o/{org.code}/branch"


def _number(raw: object, default: int = 0) -> int:
    """A form's or a query's number; `default` for anything else, or one no column holds."""
    try:
        number = int(str(raw))
    except ValueError:
        return default
    return number if 0 <= number < 2**31 else default


def _page_number(raw: object) -> int:
    return max(1, min(_number(raw, 1), 100_000))


# --- the page ---------------------------------------------------------------------------


async def branch_page(request: Request) -> Response:
    user = await require_user(request)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.BRANCH_WEEK, texts)
    if org is None:
        return not_found(request)
    ctx = context_for(request, user, texts)
    data = await branch_data(ctx, org, _page_number(request.query_params.get("deeds", 1)))
    data["pager"] = _pager(request, org, data["deeds_page"], data["deeds_pages"])
    data.update(
        user=user, csrf=csrf_input(user), path=_path(org), **_note(data, read_flash(request))
    )
    # A secretary's screen is not for shared caches, nor for the back button of a borrowed
    # phone.
    response = render(request, "console/branch.html", data, headers={"cache-control": "no-store"})
    take_flash(request, response)
    return response


def _note(data: dict[str, Any], flash: tuple[str, str] | None) -> dict[str, Any]:
    """Where the note of the last form goes: in the card whose button was pressed (the
    redirect scrolls there), or at the top of the page if that card is not on it."""
    if flash is None:
        return {"flash": None, "flash_at": None}
    note, at = flash
    cards = {f"deed-{d['id']}" for d in data["deeds"]}
    cards |= {f"comment-{c['code']}" for c in data["comments"]}
    cards |= {f"message-{m['id']}" for m in data["messages"]["list"]}
    return {"flash": note, "flash_at": at if at in cards else None}


def _pager(request: Request, org: Org, page: int, pages: int) -> dict[str, str | None]:
    def to(number: int) -> str:
        return link(request, _path(org), deeds=number if number > 1 else None) + "#deeds"

    return {
        "prev": to(page - 1) if page > 1 else None,
        "next": to(page + 1) if page < pages else None,
    }


# --- the forms ------------------------------------------------------------------------


async def _posted(request: Request) -> tuple[ConsoleUser, Texts, Org, Context, Any] | Response:
    """The signed-in user, the organisation of the URL if they may run it (else the same
    404 as the page), their Context and the CSRF-checked form."""
    user = await require_user(request)
    form = await checked_form(request, user)
    texts = texts_of(request)
    org = await org_for(request, user, request.path_params["code"], Action.BRANCH_WEEK, texts)
    if org is None:
        return not_found(request)
    return user, texts, org, context_for(request, user, texts), form


def _back(request: Request, org: Org, form: Any, anchor: str, note: str) -> Response:
    """Back to the page the form was on (its page of deeds, its language), with a note."""
    page = _page_number(form.get("deeds", 1))
    target = link(request, _path(org), deeds=page if page > 1 else None) + f"#{anchor}"
    response = RedirectResponse(target, status_code=303)
    set_flash(request, response, note, anchor)
    return response


async def feature_deed(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    deed_id = _number(form.get("deed", 0))
    do = "withdraw" if form.get("do") == "withdraw" else "feature"
    if do == "withdraw":
        result = await featured.withdraw(ctx, deed_id)
    else:
        result = await featured.feature(ctx, deed_id)
    await _audit(ctx, user, org, f"deed.{do}", str(deed_id), result.outcome.value)
    return _back(request, org, form, f"deed-{deed_id}", featured.render(texts, result))


async def moderate_comment(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    status = form.get("status")
    code = str(form.get("comment", ""))
    if status not in comments.DONE_TEXT or not code.strip():
        return _back(request, org, form, "comments", texts.get("comment.code_usage"))
    outcome, code = await comments.moderate(ctx, code, str(status))
    anchor = f"comment-{code}" if code.isascii() and code.isalnum() else "comments"
    if outcome is comments.Moderated.DONE:
        note = texts.get(comments.DONE_TEXT[str(status)], code=code)
    else:
        note = texts.get("comment.unknown", code=code)
    verb = "hide" if status == "hidden" else "publish"
    await _audit(ctx, user, org, f"comment.{verb}", code, outcome.value)
    return _back(request, org, form, anchor, note)


async def read_message(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, texts, org, ctx, form = posted
    message_id = _number(form.get("message", 0))
    done = await public_messages.mark_read(ctx, message_id)
    note = texts.get(K + ("messages.marked" if done else "messages.unknown"))
    outcome = "done" if done else "unknown"
    await _audit(ctx, user, org, "public_message.read", str(message_id), outcome)
    return _back(request, org, form, f"message-{message_id}", note)


async def _audit(
    ctx: Context, user: ConsoleUser, org: Org, action: str, target: str, outcome: str
) -> None:
    """Every form of this page ends here: who, what, when, on which organisation (the page's;
    the service checked the object's own). The detail names the object and what came of it,
    never what anyone wrote."""
    await audit.record(
        ctx.repos.db,
        person_id=user.person_id,
        action=action,
        org_id=org.id,
        detail=f"{target} {outcome}",
        at=ctx.now(),
    )
