"""Attacks on console sessions (issue 14, Access): a cookie carried to another deployment,
forms posted from another site, a sign-in link that sends the person elsewhere afterwards,
the admins' audit log opened by someone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.config import load_config
from bot.web.console.access import COOKIE
from bot.web.console.signin import FORM_COOKIE, safe_next
from tests.web.conftest import Site, _site
from tests.web.console_signin import (
    ask_code,
    browser_client,
    console_site,
    csrf_of,
    last_code,
    send_code,
    sign_in,
)
from tests.web.populate import LEADER_HX, SECRETARY_HX0101


@pytest.fixture
async def console(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for site in console_site(db_url, tmp_path, clock):
        yield site


async def test_a_session_cookie_does_not_work_on_another_deployment(
    console: Site, db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """Another deployment over the very same database, with its own secret: the session
    row is there and live, and still the cookie signs nobody in."""
    client = await sign_in(console, SECRETARY_HX0101)
    assert (await client.get("/console")).status_code == 200
    path = tmp_path / "other.toml"
    path.write_text("[scheduler]\nenabled = false\n")
    env = {"GRASSROOTS_DATABASE_URL": db_url, "GRASSROOTS_SECRET_KEY": "another deployment"}
    async for other in _site(load_config(path, env=env), clock):
        foreign = browser_client(other)
        foreign.cookies.set(COOKIE, client.cookies[COOKIE])
        answer = await foreign.get("/console")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/sign-in")
    assert (await client.get("/console")).status_code == 200  # still good at home


async def test_sign_out_without_the_form_token_is_refused(console: Site) -> None:
    client = await sign_in(console, SECRETARY_HX0101)
    for form in ({}, {"csrf": ""}, {"csrf": "x" * 43}):
        refused = await client.post("/console/sign-out", data=form)
        assert refused.status_code == 403
    assert (await client.get("/console")).status_code == 200  # the session lives on


async def test_the_sign_in_forms_need_their_token_and_its_cookie(console: Site) -> None:
    client = browser_client(console)
    page = await client.get("/console/sign-in")
    token = csrf_of(page.text)
    no_token = await client.post("/console/sign-in", data={"phone": SECRETARY_HX0101})
    assert no_token.status_code == 403
    # A page of another site can make the browser post, with the cookie, but cannot read
    # the token; nor does a token read elsewhere match this browser's cookie.
    elsewhere = browser_client(console)
    stolen = await elsewhere.post(
        "/console/sign-in", data={"phone": SECRETARY_HX0101, "csrf": token}
    )
    assert stolen.status_code == 403
    other_cookie = browser_client(console)
    other_cookie.cookies.set(FORM_COOKIE, "made-up")
    forged = await other_cookie.post(
        "/console/sign-in", data={"phone": SECRETARY_HX0101, "csrf": token}
    )
    assert forged.status_code == 403
    assert (await client.post("/console/sign-in/code", data={"code": "1"})).status_code == 403
    ok = await client.post("/console/sign-in", data={"phone": SECRETARY_HX0101, "csrf": token})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "https://evil.example/console",
        "//evil.example/console",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/console\r\nLocation: https://evil.example",
        "console/o/HX0101",
        "/consoleevil",
        "/console/sign-out",
        "",
    ],
)
def test_next_is_only_a_path_of_the_console(target: str) -> None:
    assert safe_next(target) == "/console"


def test_next_keeps_a_path_of_the_console() -> None:
    assert safe_next("/console/o/HX0101?lang=en") == "/console/o/HX0101?lang=en"
    assert safe_next("/console") == "/console"


async def test_a_sign_in_link_to_another_site_lands_on_the_console(console: Site) -> None:
    client = browser_client(console)
    page = await client.get("/console/sign-in", params={"next": "https://evil.example"})
    assert "evil.example" not in page.text
    asked = await ask_code(client, SECRETARY_HX0101, "https://evil.example")
    assert "evil.example" not in asked.text
    code = await last_code(console.app, SECRETARY_HX0101)
    answer = await send_code(client, SECRETARY_HX0101, code, "https://evil.example")
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    # Signed in already: the sign-in page sends them on, to the console only.
    again = await client.get("/console/sign-in", params={"next": "//evil.example"})
    assert again.status_code == 303 and again.headers["location"] == "/console"


@pytest.mark.parametrize("phone", [SECRETARY_HX0101, LEADER_HX])
async def test_the_audit_log_is_a_404_for_anyone_but_an_admin(console: Site, phone: str) -> None:
    client = await sign_in(console, phone)
    audit_page = await client.get("/console/audit", headers={"accept": "text/html"})
    missing = await client.get("/console/nowhere", headers={"accept": "text/html"})
    assert audit_page.status_code == missing.status_code == 404
    assert audit_page.text.replace("/console/audit", "") == missing.text.replace(
        "/console/nowhere", ""
    )
    home = await client.get("/console")
    assert "/console/audit" not in home.text


async def test_codes_and_sessions_are_stored_only_as_keyed_hashes(console: Site) -> None:
    client = browser_client(console)
    await ask_code(client, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    await send_code(client, SECRETARY_HX0101, code)
    rows = await console.app.repos.db.fetch("SELECT * FROM console_codes")
    sessions = await console.app.repos.db.fetch("SELECT * FROM console_sessions")
    stored = repr(rows) + repr(sessions)
    assert code not in stored and SECRETARY_HX0101 not in stored
    assert client.cookies[COOKIE].split(".")[0] not in stored
