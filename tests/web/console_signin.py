"""Signing in to the console the way a person does: the number form, the code read from the
outbox (where the SMS or Telegram message waits), the code form. Shared by the console's
access tests in tests/web and tests/security."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.app import App
from bot.clock import FixedClock
from bot.messages import Address, AddressKind
from storage.models import Role
from storage.people import RosterEntry
from tests.web.conftest import Site, _site, web_config
from tests.web.populate import load_demo

ADMIN = "+8613800000009"  # the county's admin (not in the shipped demo roster)
STRANGER = "+8613912345678"  # on nobody's roster
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CODE = re.compile(r"\b(\d{6})\b")


async def add_admin(app: App, phone: str = ADMIN, name: str = "钱管理") -> None:
    county = await app.repos.orgs.by_code("HX")
    assert county is not None
    entry = RosterEntry(county.id, name, Address(AddressKind.SMS, phone), Role.ADMIN)
    await app.repos.people.import_roster([entry], app.clock.now())


async def console_site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    """The served app over the demo roster, with an admin of the county (a test module's
    `console` fixture iterates this)."""
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await load_demo(opened.app)
        await add_admin(opened.app)
        yield opened


def browser_client(site: Site, client_address: str | None = None) -> httpx.AsyncClient:
    """A browser of its own (cookies), seen by the site at `client_address` (uvicorn takes
    X-Forwarded-For from a loopback proxy, as behind nginx)."""
    headers = {"x-forwarded-for": client_address} if client_address else {}
    return httpx.AsyncClient(base_url=site.url, timeout=10, headers=headers)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


async def ask_code(
    client: httpx.AsyncClient, phone: str, next_path: str | None = None
) -> httpx.Response:
    """Open the sign-in page and send the number, as the form does."""
    query = {"next": next_path} if next_path else {}
    page = await client.get("/console/sign-in", params=query)
    assert page.status_code == 200
    form = {"phone": phone, "csrf": csrf_of(page.text), "next": next_path or "/console"}
    return await client.post("/console/sign-in", data=form)


async def send_code(
    client: httpx.AsyncClient, phone: str, code: str, next_path: str = "/console"
) -> httpx.Response:
    """Post a code on the code form (its token from the sign-in page)."""
    page = await client.get("/console/sign-in")
    form = {"phone": phone, "code": code, "csrf": csrf_of(page.text), "next": next_path}
    return await client.post("/console/sign-in/code", data=form)


async def codes_sent(app: App, phone: str) -> list[dict[str, object]]:
    """Sign-in messages queued to the person holding `phone`, oldest first."""
    return await app.repos.db.fetch(
        """
        SELECT o.* FROM outbox o
        JOIN addresses a ON a.kind = o.address_kind AND a.value = o.address
        JOIN addresses mine ON mine.person_id = a.person_id
        WHERE o.idempotency_key LIKE 'console-code:%' AND mine.kind = 'sms'
          AND mine.value = :phone
        ORDER BY o.id
        """,
        {"phone": phone},
    )


async def last_code(app: App, phone: str) -> str:
    sent = await codes_sent(app, phone)
    assert sent, f"no code was sent for {phone}"
    found = _CODE.search(str(sent[-1]["body"]))
    assert found, sent[-1]["body"]
    return found.group(1)


async def sign_in(
    site: Site, phone: str, next_path: str = "/console", client: httpx.AsyncClient | None = None
) -> httpx.AsyncClient:
    """A client signed in through the forms with the code from the outbox."""
    client = client or browser_client(site)
    asked = await ask_code(client, phone, next_path)
    assert asked.status_code == 200, asked.text
    answer = await send_code(client, phone, await last_code(site.app, phone), next_path)
    assert answer.status_code == 303, answer.text
    return client
