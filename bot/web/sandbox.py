"""The browser sandbox (/sandbox): talk to the bot as a person of the demo county.

Pick a person (or type a number) and the page is that phone: what you type goes through
the router exactly as `grassroots chat` sends it (bot/channels/console.py builds the
message), and what the bot sends that number, replies and broadcasts alike, shows as an
SMS thread with each message's segment count. Where no SMS provider is configured, `serve`
delivers SMS to the sandbox (bot/channels/sandbox.py): the outbox row, marked sent, is the
record every worker and tab reads. The thread is re-read by short polling (sandbox.js);
without JavaScript a form POST sends and the page comes back with the thread.

The sandbox talks as anyone: it exists only where [web] sandbox says (Config.sandbox_on:
on by default only while no provider is configured), and refuses cross-site POSTs.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.channels.base import plain_text
from bot.channels.console import console_inbound
from bot.messages import Address, AddressKind
from bot.outbox import deliver
from bot.phones import to_e164
from bot.segments import count_segments
from bot.texts import Texts
from bot.web.pages import link, page, render, texts_of
from scheduler.jobs import JobContext
from scheduler.sweeps import run_sweeps
from storage import sandbox as store
from storage.models import Role

MAX_FORM_BYTES = 8 * 1024  # a message and a few fields; anything bigger is not a person
MAX_BODY_CHARS = 1000  # about fifteen Chinese SMS: more than any phone would send as one
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
# A reply the page delivers itself waits this long before the dispatcher may take it, so
# that the two never both send it; should the page fail mid-way, the dispatcher does.
_DISPATCHER_GRACE = timedelta(seconds=30)
_ROLE_ORDER = [Role.LEADER, Role.SECRETARY, Role.MEMBER, Role.PUBLIC, Role.ADMIN]


def routes() -> list[BaseRoute]:
    return [
        Route("/sandbox", pick, methods=["GET"]),
        Route("/sandbox/chat", chat, methods=["GET"]),
        Route("/sandbox/chat", send, methods=["POST"]),
        Route("/sandbox/thread", thread, methods=["GET"]),
        Route("/sandbox/thread.json", thread, methods=["GET"]),
    ]


# --- pages ---------------------------------------------------------------------------------


async def pick(request: Request, *, error: str | None = None, typed: str = "") -> Response:
    """The people of the demo county by organisation and role, and a box for any number."""
    app: App = request.app.state.bot
    listed = await store.roster(app.repos)
    people: dict[int, dict[str, list[dict[str, str | None]]]] = {}
    for entry in listed:
        people.setdefault(entry.org_id, {}).setdefault(entry.role, []).append(
            {"name": entry.name, "phone": entry.phone}
        )
    orgs = []
    for org, depth in _tree(await app.repos.orgs.all()):
        held = people.get(org.id, {})
        roles = [{"role": r.value, "people": held[r.value]} for r in _ROLE_ORDER if r in held]
        if roles:
            orgs.append({"code": org.code, "name": org.name, "depth": depth, "roles": roles})
    data = {
        "orgs": orgs,
        "truncated": len(listed) >= store.ROSTER_LIMIT,
        "error": error,
        "typed": typed,
    }
    response = render(request, "sandbox.html", data, status=400 if error else 200)
    response.headers["cache-control"] = "no-store"
    return response


async def chat(request: Request) -> Response:
    """One phone: who holds it, its thread, a box to write in."""
    app: App = request.app.state.bot
    raw = request.query_params.get("phone", "")
    if not raw.strip():  # the picker's form sent empty, or a link without the number
        return RedirectResponse(link(request, "/sandbox"), 303)
    phone = to_e164(raw, app.config.bot.default_region)
    if phone is None:
        error = texts_of(request).get("web.sandbox.pick.invalid")
        return await pick(request, error=error, typed=raw[:40])
    holder = await store.person(app.repos, phone)
    data = {
        "phone": phone,
        "person": _person(holder),
        "examples": _examples(texts_of(request), holder),
        "messages": await _messages(app, phone),
        "nonce": uuid.uuid4().hex,
        "max_chars": MAX_BODY_CHARS,
    }
    response = render(request, "sandbox_chat.html", data)
    response.headers["cache-control"] = "no-store"
    return response


async def thread(request: Request) -> Response:
    """The thread alone (the page's script polls it), with an ETag: an unchanged thread is
    a 304 of a few bytes."""
    app: App = request.app.state.bot
    phone = to_e164(request.query_params.get("phone", ""), app.config.bot.default_region)
    if phone is None:
        return PlainTextResponse("phone: not a valid number\n", status_code=400)
    data = {"phone": phone, "messages": await _messages(app, phone)}
    response = page(request, "sandbox_thread.html", data)
    # Unlike the open data, no other site may read a thread through a visitor's browser.
    if "access-control-allow-origin" in response.headers:
        del response.headers["access-control-allow-origin"]
    tag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    headers = {"etag": tag, "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


async def send(request: Request) -> Response:
    """Say something as the phone: the thread comes back (?fragment=1, the script), else
    the page (a plain form)."""
    texts = texts_of(request)
    if not same_origin(request):
        return PlainTextResponse(texts.get("web.sandbox.refused.origin") + "\n", status_code=403)
    raw = await _read_limited(request)
    if raw is None:
        return PlainTextResponse(texts.get("web.sandbox.refused.size") + "\n", status_code=413)
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    app: App = request.app.state.bot
    phone = to_e164(form.get("phone", ""), app.config.bot.default_region)
    if phone is None:
        return PlainTextResponse("phone: not a valid number\n", status_code=400)
    body = (form.get("choice") or form.get("body") or "").strip()
    if len(body) > MAX_BODY_CHARS:
        return PlainTextResponse(texts.get("web.sandbox.refused.size") + "\n", status_code=413)
    nonce = form.get("nonce", "")
    if body:
        poke = getattr(request.app.state, "dispatcher", None)
        await say(app, phone, body, nonce if _NONCE.fullmatch(nonce) else None, poke)
    if request.query_params.get("fragment"):
        data = {"phone": phone, "messages": await _messages(app, phone)}
        return render(request, "sandbox_thread.html", data, headers={"cache-control": "no-store"})
    return RedirectResponse(link(request, "/sandbox/chat", phone=phone) + "#latest", 303)


# --- the one way a message is said ---------------------------------------------------------


async def say(app: App, phone: str, body: str, nonce: str | None, dispatcher: Any) -> None:
    """`body` said by `phone`, as `grassroots chat` says it: the scheduler's sweeps first
    where no scheduler may have run them yet, then the router. A repeated nonce (a form sent
    twice) is the same message, handled once. Where SMS goes to the sandbox, the replies
    are delivered like any SMS, through the outbox, so that the thread keeps them (buttons
    included); where a provider is configured, they are never sent to the real phone."""
    poke: Callable[[], None] = dispatcher.poke if dispatcher is not None else (lambda: None)
    jobs = JobContext(app.repos, app.config.zone, app.config.bot.language, poke)
    if app.config.scheduler.enabled:
        await run_sweeps(jobs, app.clock.now())
    sender = Address(AddressKind.SMS, phone)
    inbound = console_inbound(sender, body, app.clock, f"sandbox-{nonce}" if nonce else None)
    recorded = await app.router.accept(inbound)
    replies = await app.router.respond(recorded, inbound)
    if app.sandbox and AddressKind.SMS in app.senders:  # never with [twilio]
        now = app.clock.now()
        for index, reply in enumerate(replies):
            key = store.REPLY_KEY.format(message=recorded.id, index=index)
            await app.repos.outbox.enqueue(key, reply, now, now + _DISPATCHER_GRACE)
            queued = await store.outbox_id(app.repos, key)
            if queued is not None:
                await deliver(app.repos, app.senders, queued, now)
    if app.config.scheduler.enabled:  # what the message started (a poll confirmed) goes now
        await run_sweeps(jobs, app.clock.now())
    poke()


# --- helpers -------------------------------------------------------------------------------


def same_origin(request: Request) -> bool:
    """A POST from this site's own pages: the browser says where a form came from (Origin,
    Sec-Fetch-Site), and a page elsewhere must not make a visitor's browser talk as
    anyone. A client that says nothing (curl, a test) is no browser being misused."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc == host


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None past MAX_FORM_BYTES (not read into memory beyond it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _tree(orgs: list[Any]) -> list[tuple[Any, int]]:
    """Organisations depth first from the roots, each with its depth."""
    children: dict[int | None, list[Any]] = {}
    known = {org.id for org in orgs}
    for org in sorted(orgs, key=lambda o: o.code):
        parent = org.parent_id if org.parent_id in known else None
        children.setdefault(parent, []).append(org)
    ordered: list[tuple[Any, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for org in children.get(parent, []):
            ordered.append((org, depth))
            walk(org.id, depth + 1)

    walk(None, 0)
    return ordered


def _examples(texts: Texts, holder: store.Person | None, most: int = 4) -> list[str]:
    """A few messages to try, one tap each, for the roles this phone holds."""
    roles = [r.value for r in _ROLE_ORDER if holder and r in {h.role for h in holder.holdings}]
    found: list[str] = []
    for role in roles or ["stranger"]:
        for line in texts.get(f"web.sandbox.try.{role}").split("\n"):
            if line not in found:
                found.append(line)
    return found[:most]


def _person(holder: store.Person | None) -> dict[str, Any] | None:
    if holder is None:
        return None
    return {
        "name": holder.name,
        "opted_out": holder.opted_out,
        "holdings": [
            {"role": h.role, "org_name": h.org_name, "org_code": h.org_code}
            for h in holder.holdings
        ],
    }


async def _messages(app: App, phone: str) -> list[dict[str, Any]]:
    zone = app.config.zone
    today = app.clock.now().astimezone(zone).date()
    shown = []
    for entry in await store.thread(app.repos, phone):
        local = entry.at.astimezone(zone)
        text = entry.body if entry.mine else plain_text(store.as_outbound(entry, phone))
        cost = count_segments(text)
        shown.append(
            {
                "key": entry.key,
                "mine": entry.mine,
                "body": entry.body,
                "choices": [{"key": c.key, "label": c.label} for c in entry.choices],
                "waiting": entry.waiting,
                "kept_as_marker": entry.kept_as_marker,
                "segments": entry.segments or cost.segments,
                "chars": len(text),
                "at": local,
                "time": _when(local, today),
            }
        )
    return shown


def _when(local: datetime, today: Any) -> str:
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")
