"""Shared fixtures: no network beyond loopback, databases on both backends, a phone to talk."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FixedClock
from bot.config import load_config
from bot.messages import Address, AddressKind, Channel, Inbound
from storage.models import Role
from storage.people import RosterEntry
from storage.repositories import Repositories, open_repositories

# Browser fixtures (Playwright with the system's Chromium) for the web tests; pytest takes
# plugins only from the top-level conftest.
pytest_plugins = ["tests.web.browser"]

# CI exports this; on a machine without PostgreSQL the PostgreSQL tests skip, saying why.
PG_ENV = "GRASSROOTS_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

# --- no network beyond loopback -----------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: object) -> None:
    if not isinstance(address, tuple):  # AF_UNIX path
        return
    host = address[0]
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        if host == "localhost":
            return
    raise RuntimeError(f"tests may not reach beyond loopback (tried {host})")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# --- databases ----------------------------------------------------------------------------


def _postgres_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    try:  # a developer machine with a local server runs these too
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return PG_DEFAULT
    except OSError:
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a file for SQLite, a new schema for PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    base = _postgres_url()
    if base is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: set {PG_ENV}")
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 and {PG_ENV} unset")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(base, f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}search_path={schema}"
    finally:
        _pg_admin(base, f"DROP SCHEMA {schema} CASCADE")


def _pg_admin(url: str, statement: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect("postgresql://" + url.split("://", 1)[1])
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def repos(db_url: str) -> AsyncIterator[Repositories]:
    opened = await open_repositories(db_url)
    try:
        yield opened
    finally:
        await opened.db.close()


# --- the bot, a small county, and phones to talk to it ------------------------------------

# The key of the ballots' hashes in tests (a deployment's comes from its environment).
KEY = "test-secret-key-for-ballot-hashes"
KEY_ENV = {"GRASSROOTS_SECRET_KEY": KEY}
# Thursday 2026-11-26, 10:00 in Beijing.
START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def app(db_url: str, clock: FixedClock) -> AsyncIterator[App]:
    config = load_config(env={"GRASSROOTS_DATABASE_URL": db_url, "GRASSROOTS_SECRET_KEY": KEY})
    opened = await App.open(config, clock)
    try:
        yield opened
    finally:
        await opened.close()


COUNTY = [
    {"code": "HX", "name": "和兴县委", "kind": "county"},
    {"code": "HX01", "name": "青山镇党委", "kind": "township", "parent_code": "HX"},
    {
        "code": "HX0101",
        "name": "东坡村党支部",
        "kind": "branch",
        "parent_code": "HX01",
        "theme": "脱贫致富",
    },
    {"code": "HX0102", "name": "西岭村党支部", "kind": "branch", "parent_code": "HX01"},
]
SECRETARY = "+8613800001100"
MEMBER = "+8613800001101"
MEMBER_2 = "+8613800001102"
VILLAGER = "+8613900001101"
STRANGER = "+8613912345678"


async def populate_roster(app: App) -> None:
    """A township, two branches; in 东坡村 a secretary, two members and a villager."""
    now = app.clock.now()
    await app.repos.orgs.upsert_many(COUNTY, now)
    branch = await app.repos.orgs.by_code("HX0101")
    assert branch is not None
    sms = AddressKind.SMS
    await app.repos.people.import_roster(
        [
            RosterEntry(branch.id, "张建国", Address(sms, SECRETARY), Role.SECRETARY),
            RosterEntry(branch.id, "李秀英", Address(sms, MEMBER), Role.MEMBER),
            RosterEntry(branch.id, "王志强", Address(sms, MEMBER_2), Role.MEMBER),
            RosterEntry(branch.id, "赵大爷", Address(sms, VILLAGER), Role.PUBLIC),
        ],
        now,
    )


@pytest.fixture
async def county(app: App) -> App:
    await populate_roster(app)
    return app


class Phone:
    """A person texting the bot: `await phone.says("汇报 ...")` returns the replies."""

    def __init__(self, app: App, number: str) -> None:
        self.app = app
        self.address = Address(AddressKind.SMS, number)

    async def says(self, body: str, provider_id: str | None = None) -> list[str]:
        inbound = Inbound(
            Channel.SMS, provider_id or uuid.uuid4().hex, self.address, body, self.app.clock.now()
        )
        return [reply.body for reply in await self.app.router.handle(inbound)]

    async def says_one(self, body: str) -> str:
        replies = await self.says(body)
        assert len(replies) == 1, replies
        return replies[0]


@pytest.fixture
def phone(county: App):
    return lambda number: Phone(county, number)
