"""The web app served on loopback (uvicorn, lifespan and all) over the test databases, a
populated demo county, and signed-in console clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.app import App
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.messages import Address, AddressKind
from bot.web.app import create_web_app
from bot.web.console.access import COOKIE, IDLE, cookie_value
from tests.conftest import KEY_ENV
from tests.servers import serve_asgi
from tests.web.populate import load_demo, populated_demo

pytest_plugins = ["tests.web.browser"]


@dataclass
class Site:
    url: str
    app: App
    client: httpx.AsyncClient
    clock: FixedClock

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.client.get(self.url + path, **kwargs)  # type: ignore[arg-type]

    async def signed_in(self, phone: str) -> httpx.AsyncClient:
        """A client with a live console session for the person holding `phone` (made
        directly in storage: the sign-in flow has tests of its own)."""
        record = await self.app.repos.people.resolve(Address(AddressKind.SMS, phone))
        assert record.person_id is not None, f"{phone} is not on the roster"
        token, _ = await self.app.repos.console_sessions.open(
            record.person_id, self.clock.now(), IDLE
        )
        client = httpx.AsyncClient(base_url=self.url, timeout=10, follow_redirects=False)
        client.cookies.set(COOKIE, cookie_value(self.app.router.settings.secret_key, token))
        return client


def web_config(db_url: str, tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "config.toml"
    path.write_text("[scheduler]\nenabled = false\n" + extra)
    return load_config(path, env={"GRASSROOTS_DATABASE_URL": db_url, **KEY_ENV})


async def _site(config: Config, clock: FixedClock) -> AsyncIterator[Site]:
    web = create_web_app(config, clock, with_scheduler=False)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        yield Site(url, web.state.bot, client, clock)


@pytest.fixture
async def site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    """The demo county's roster, no activity."""
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await load_demo(opened.app)
        yield opened


@pytest.fixture
async def demo_site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    """Twelve weeks of campaign in the demo county (tests/web/populate.py)."""
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await populated_demo(opened.app, clock)
        yield opened
