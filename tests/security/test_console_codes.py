"""Attacks on the console's sign-in codes (issue 14, Access): learning who is on the roster,
signing in as someone who may not, guessing a code, replaying an old one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.web.console.access import COOKIE
from bot.web.console.codes import CODE_TTL, GUESS_LIMITS, MAX_TRIES, WINDOW
from storage import audit
from tests.web.conftest import Site
from tests.web.console_signin import (
    STRANGER,
    ask_code,
    browser_client,
    codes_sent,
    console_site,
    csrf_of,
    last_code,
    send_code,
)
from tests.web.populate import MEMBERS_HX0101, SECRETARY_HX0101, VILLAGERS_HX0101

_, GUESSES_PER_NUMBER, GUESSES_PER_CLIENT = GUESS_LIMITS


@pytest.fixture
async def console(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for site in console_site(db_url, tmp_path, clock):
        yield site


def _same_page(html: str, phone: str) -> str:
    """The page with what legitimately differs taken out: the number typed, the token."""
    return html.replace(phone, "PHONE").replace(csrf_of(html), "TOKEN")


async def test_a_strangers_number_gets_the_same_answer_as_a_secretarys(console: Site) -> None:
    answers = {}
    for phone in (SECRETARY_HX0101, STRANGER, VILLAGERS_HX0101[0], MEMBERS_HX0101[0]):
        client = browser_client(console)
        asked = await ask_code(client, phone)
        answers[phone] = (asked.status_code, sorted(asked.headers.keys()), asked.text)
        wrong = await send_code(client, phone, "000000")
        answers[phone] += (wrong.status_code, _same_page(wrong.text, phone))
    secretary = answers.pop(SECRETARY_HX0101)
    for phone, answer in answers.items():
        assert answer[:2] == secretary[:2]
        assert _same_page(answer[2], phone) == _same_page(secretary[2], SECRETARY_HX0101)
        assert answer[3:] == secretary[3:]
    # Only the secretary was sent anything; every number left a code row (the same work).
    assert len(await codes_sent(console.app, SECRETARY_HX0101)) == 1
    outbox = await console.app.repos.db.fetch(
        "SELECT address FROM outbox WHERE idempotency_key LIKE 'console-code:%'"
    )
    assert [row["address"] for row in outbox] == [SECRETARY_HX0101]
    rows = await console.app.repos.db.fetch("SELECT person_id FROM console_codes ORDER BY id")
    assert len(rows) == 4 and [r["person_id"] is None for r in rows] == [False, True, True, True]


@pytest.mark.parametrize("who", ["villager", "member"])
async def test_a_villager_or_a_member_cannot_sign_in(console: Site, who: str) -> None:
    phone = VILLAGERS_HX0101[0] if who == "villager" else MEMBERS_HX0101[0]
    client = browser_client(console)
    assert (await ask_code(client, phone)).status_code == 200
    assert await codes_sent(console.app, phone) == []  # nothing reaches them
    # Not even the right code would do: their code row belongs to nobody.
    for guess in ("123456", "000000", "999999"):
        assert (await send_code(client, phone, guess)).status_code == 400
    assert COOKIE not in client.cookies
    assert (await client.get("/console")).status_code == 303


async def test_an_expired_code_is_refused(console: Site) -> None:
    client = browser_client(console)
    await ask_code(client, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    console.clock.advance(CODE_TTL + timedelta(seconds=1))
    late = await send_code(client, SECRETARY_HX0101, code)
    assert late.status_code == 400 and "验证码不对或已失效" in late.text
    assert COOKIE not in client.cookies


async def test_a_used_or_superseded_code_is_refused(console: Site) -> None:
    client = browser_client(console)
    await ask_code(client, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    assert (await send_code(client, SECRETARY_HX0101, code)).status_code == 303
    again = browser_client(console)
    assert (await send_code(again, SECRETARY_HX0101, code)).status_code == 400  # single use

    await ask_code(again, SECRETARY_HX0101)
    first = await last_code(console.app, SECRETARY_HX0101)
    await ask_code(again, SECRETARY_HX0101)
    second = await last_code(console.app, SECRETARY_HX0101)
    if first != second:  # one in a million they are equal
        assert (await send_code(again, SECRETARY_HX0101, first)).status_code == 400
    assert (await send_code(again, SECRETARY_HX0101, second)).status_code == 303


async def test_wrong_guesses_burn_the_code(console: Site) -> None:
    client = browser_client(console)
    await ask_code(client, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_TRIES):
        assert (await send_code(client, SECRETARY_HX0101, wrong)).status_code == 400
    assert (await send_code(client, SECRETARY_HX0101, code)).status_code == 400  # burned
    [entry] = await audit.newest(console.app.repos.db)
    assert entry.action == "console.code_burned" and entry.person_name == "张建国"


async def test_guesses_are_limited_per_number_whatever_the_client_address(
    console: Site,
) -> None:
    """An attacker spread over many addresses gets GUESSES_PER_NUMBER guesses an hour at one
    number, then not even the right code is looked at."""
    owner = browser_client(console, "10.9.9.9")
    guesses = 0
    while guesses < GUESSES_PER_NUMBER:
        await ask_code(owner, SECRETARY_HX0101)
        code = await last_code(console.app, SECRETARY_HX0101)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        for _ in range(min(MAX_TRIES, GUESSES_PER_NUMBER - guesses)):
            attacker = browser_client(console, f"10.0.0.{guesses}")
            assert (await send_code(attacker, SECRETARY_HX0101, wrong)).status_code == 400
            guesses += 1
    await ask_code(owner, SECRETARY_HX0101)
    refused = await send_code(
        owner, SECRETARY_HX0101, await last_code(console.app, SECRETARY_HX0101)
    )
    assert refused.status_code == 429 and "尝试次数太多" in refused.text
    console.clock.advance(WINDOW)  # an hour later the owner gets in
    await ask_code(owner, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    assert (await send_code(owner, SECRETARY_HX0101, code)).status_code == 303


async def test_guesses_are_limited_per_client_address_whatever_the_number(
    console: Site,
) -> None:
    owner = browser_client(console, "10.9.9.9")
    await ask_code(owner, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    attacker = browser_client(console, "10.6.6.6")
    for n in range(GUESSES_PER_CLIENT):  # one guess at each of many numbers
        assert (await send_code(attacker, f"+86139{n:08d}", "123456")).status_code == 400
    refused = await send_code(attacker, SECRETARY_HX0101, code)
    assert refused.status_code == 429
    assert (await send_code(owner, SECRETARY_HX0101, code)).status_code == 303


async def test_a_burst_of_guesses_gets_exactly_the_limit_through(console: Site) -> None:
    """Taken atomically before the work: forty guesses at once, from forty addresses, are
    counted one by one, and a code sees at most MAX_TRIES of them."""
    owner = browser_client(console, "10.9.9.9")
    await ask_code(owner, SECRETARY_HX0101)
    code = await last_code(console.app, SECRETARY_HX0101)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    clients = [browser_client(console, f"10.1.0.{n}") for n in range(40)]
    answers = await asyncio.gather(*(send_code(c, SECRETARY_HX0101, wrong) for c in clients))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(400) == GUESSES_PER_NUMBER and statuses.count(429) == 40 - 10
    [row] = await console.app.repos.db.fetch("SELECT tries, outcome FROM console_codes")
    assert row["tries"] == MAX_TRIES and row["outcome"] == "burned"


async def test_asking_for_codes_is_limited_per_number_and_per_address(console: Site) -> None:
    client = browser_client(console, "10.2.0.1")
    answers = [(await ask_code(client, STRANGER)).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]  # the same for a stranger as for anyone
    secretary = [(await ask_code(client, SECRETARY_HX0101)).status_code for _ in range(6)]
    assert secretary == [200] * 5 + [429]
    assert len(await codes_sent(console.app, SECRETARY_HX0101)) == 5

    spray = browser_client(console, "10.3.0.1")
    statuses = [(await ask_code(spray, f"+86139{n:08d}")).status_code for n in range(21)]
    assert statuses == [200] * 20 + [429]
    page = await ask_code(spray, SECRETARY_HX0101)
    assert page.status_code == 429 and re.search("尝试次数太多", page.text)
