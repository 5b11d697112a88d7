"""The adversarial suite: each module attacks one finding of issue 12 through the real doors."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.logs import setup_logging
from tests.servers import serve_asgi
from tests.test_sms_webhook import Site, _site, sms_config
from tests.test_telegram import FakeBotApi


class Logged:
    """What the service's own logging set-up wrote, line by line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@pytest.fixture
def logged() -> Iterator[Logged]:
    """Logging configured as `grassroots` configures it, into a buffer; restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("alembic", "httpx", "httpcore")}
    stream = io.StringIO()
    setup_logging("INFO", stream)
    try:
        yield Logged(stream)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


@pytest.fixture
async def site(tmp_path, db_url, clock) -> AsyncIterator[Site]:
    """The SMS webhook served on loopback (as tests/test_sms_webhook.py serves it)."""
    async for served in _site(sms_config(tmp_path, db_url), clock):
        yield served


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    """The fake Bot API of tests/test_telegram.py on a loopback port."""
    api = FakeBotApi()
    async with serve_asgi(api.app()) as url:
        api.url = url
        yield api
