"""12.12: updates that carry the right secret but not a usable update are acknowledged (200)
and dropped with a log line, never answered with 5xx (Telegram would redeliver them for a
day), and they affect nothing: the next good update is handled as usual.

Posted to the real ASGI app on loopback; replies go through python-telegram-bot to the local
fake Bot API of tests/test_telegram.py."""

from __future__ import annotations

import json

import pytest

from tests.security.conftest import Logged
from tests.test_telegram import (
    MEMBER_CHAT,
    RECORDED,
    REPORT,
    FakeBotApi,
    said,
    send,
    serving,
    telegram_config,
    update,
)


def good(update_id: int, **fields: object) -> dict[str, object]:
    return update("message", update_id, MEMBER_CHAT, **fields)


def nested(depth: int) -> bytes:
    return b'{"update_id": 7, "message": ' + b"[" * depth + b"]" * depth + b"}"


def message_with(**fields: object) -> dict[str, object]:
    body = good(8)
    body["message"].update(fields)  # type: ignore[union-attr]
    return body


MALFORMED: dict[str, bytes | dict[str, object]] = {
    "message is a string": {"update_id": 1, "message": "x"},
    "text is a number": message_with(text=123),
    "text is an object": message_with(text={"a": 1}),
    "chat id is text": message_with(chat={"id": "abc", "type": "private"}),
    "from is a number": message_with(**{"from": 5}),
    "date is text": message_with(date="yesterday"),
    "entities is a string": message_with(entities="bold"),
    "lone surrogate": json.dumps(message_with(text="\ud800")).encode(),
    "lone surrogate in a name": json.dumps(
        message_with(**{"from": {"id": MEMBER_CHAT, "is_bot": False, "first_name": "\udfff"}})
    ).encode(),
    "arrays nested 100,000 deep": nested(100_000),
    "arrays nested 900 deep": nested(900),
    "callback data is a number": {
        "update_id": 9,
        "callback_query": {"id": "1", "from": {"id": 1}, "data": 5, "chat_instance": "x"},
    },
    "update_id is text": {"update_id": "x", "message": {"text": "hi"}},
    "not JSON": b"update_id=122&text=hi",
    "invalid UTF-8": b'{"update_id": 10, "message": {"text": "\xff\xfe"}}',
    "a JSON list": b"[1, 2]",
    "no update_id": {"message": {"text": "hi"}},
    "NaN": b'{"update_id": NaN}',
    "update missing its chat": {"update_id": 125, "message": {"text": "x"}},
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_update_is_acknowledged_dropped_and_harms_nothing(
    body: bytes | dict[str, object], fake: FakeBotApi, tmp_path, db_url, clock, logged: Logged
):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        response = await site.post(body)
        assert response.status_code == 200, response.text
        assert await site.app.repos.inbound.count() == 0
        assert any("dropped" in line and "WARNING" in line for line in logged.lines)
        assert (await site.post(good(901, text=REPORT))).status_code == 200
        await fake.wait_for(1)
        assert (await site.stored(901))["status"] == "handled"
        health = await site.client.get(site.url + "/healthz")
        assert health.status_code == 200
    assert [said(call) for call in fake.sent()] == [send(MEMBER_CHAT, RECORDED)]


async def test_an_oversized_body_is_refused_with_413_before_it_is_read(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        huge = json.dumps(good(11, text="汇报 " + "长" * 2_000_000)).encode()
        response = await site.post(huge)
        assert response.status_code == 413
        assert await site.app.repos.inbound.count() == 0


async def test_the_secret_is_checked_before_anything_is_parsed(
    fake: FakeBotApi, tmp_path, db_url, clock
):
    async with serving(telegram_config(tmp_path, db_url, fake.url), clock, fake) as site:
        assert (await site.post(nested(100_000), secret="guessed")).status_code == 403
        assert (await site.post(b"[1]", secret=None)).status_code == 403
