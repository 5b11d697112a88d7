"""The adversarial suite: each module attacks one finding of issue 12 through the real doors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.logcapture import Logged, capture_logging
from tests.servers import serve_asgi
from tests.test_sms_webhook import Site, _site, sms_config
from tests.test_telegram import FakeBotApi


@pytest.fixture
def logged() -> Iterator[Logged]:
    yield from capture_logging()


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
