"""Twilio's inbound webhook against the real ASGI app over HTTP, signed by the twilio library."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.app import App
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.web.app import create_web_app
from handlers.base import Context, Message, Route
from tests.conftest import KEY_ENV, MEMBER, STRANGER, VILLAGER, populate_roster
from tests.servers import serve_asgi
from tests.test_conversations import deeds_of

TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "1" * 32
PUBLIC_URL = "https://bot.example.org"
SIGNED_URL = PUBLIC_URL + "/sms/inbound"
REAL_PAYLOAD = json.loads((Path(__file__).parent / "data" / "twilio_inbound.json").read_text())


def sms_config(tmp_path: Path, db_url: str, validate: bool = True) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
        f'public_url = "{PUBLIC_URL}/"\napi_base_url = "http://127.0.0.1:9"\n'
        f"validate_signatures = {str(validate).lower()}\n"
    )
    return load_config(
        path, env={"GRASSROOTS_DATABASE_URL": db_url, "TWILIO_AUTH_TOKEN": TOKEN, **KEY_ENV}
    )


@dataclass
class Site:
    url: str
    app: App
    client: httpx.AsyncClient
    sent: list[str] = field(default_factory=list)

    async def post(
        self, form: dict[str, str], signature: str | None = "valid", **kwargs: object
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))  # type: ignore[arg-type]
        if signature == "valid":
            headers["X-Twilio-Signature"] = RequestValidator(TOKEN).compute_signature(
                SIGNED_URL, form
            )
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post(
            self.url + "/sms/inbound", data=form, headers=headers, **kwargs
        )

    async def stored(self, sid: str) -> dict | None:
        row = await self.app.repos.db.fetchrow(
            "SELECT body, attachments, status FROM inbound_messages WHERE provider_id = :sid",
            {"sid": sid},
        )
        if row is None:
            return None
        return {**row, "body": self.app.repos.inbound.open_body(row["body"])}  # sealed on disk


async def _site(config: Config, clock: FixedClock) -> AsyncIterator[Site]:
    web = create_web_app(config, clock)
    async with serve_asgi(web) as url, httpx.AsyncClient(timeout=10) as client:
        app: App = web.state.bot
        await populate_roster(app)
        yield Site(url, app, client)


@pytest.fixture
async def site(tmp_path, db_url, clock) -> AsyncIterator[Site]:
    async for s in _site(sms_config(tmp_path, db_url), clock):
        yield s


def form(
    body: str, sender: str = MEMBER, sid: str = "SM" + "a" * 32, **extra: str
) -> dict[str, str]:
    """A webhook as Twilio sends it (every documented field), with these values."""
    fields = {k: v for k, v in REAL_PAYLOAD.items() if not k.startswith("_")}
    return {
        **fields,
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "Body": body,
        **extra,
    }


CASES = [
    # label, form, signature, expected status, reply contains (None: refused, nothing stored)
    ("chinese report", form("汇报 #服务 看望了孤寡老人"), "valid", 200, "已记录【服务群众】"),
    ("full-width digits", form("ＨＢ　３　帮五保户挑水"), "valid", 200, "已记录【服务群众】"),
    ("emoji only", form("😀🎉"), "valid", 200, "好的，谢谢！"),  # an acknowledgement
    ("empty body", form("", sender=VILLAGER), "valid", 200, "没有收到内容"),
    ("stop word", form("STOP", sender=STRANGER), "valid", 200, "You will get no more messages"),
    (
        "two media",
        form(
            "汇报 修好的桥",
            NumMedia="2",
            MediaUrl0="https://api.twilio.com/m/ME1",
            MediaContentType0="image/jpeg",
            MediaUrl1="https://api.twilio.com/m/ME2",
            MediaContentType1="image/png",
        ),
        "valid",
        200,
        "已记录",
    ),
    ("forged signature", form("汇报 假的"), "Zm9yZ2Vk", 403, None),
    ("missing signature", form("汇报 假的"), None, 403, None),
    ("signed for the local URL", form("汇报 假的"), "local", 403, None),
    ("wrong account", form("汇报 假的", AccountSid="AC" + "2" * 32), "valid", 403, None),
    ("1,601 characters", form("汇" * 1601), "valid", 413, None),
    (
        "no MessageSid",
        form("汇报 x", MessageSid="", SmsMessageSid="", SmsSid=""),
        "valid",
        400,
        None,
    ),
]


@pytest.mark.parametrize(
    ("label", "fields", "signature", "status", "reply"), CASES, ids=[c[0] for c in CASES]
)
async def test_inbound_cases(site: Site, label, fields, signature, status, reply):
    if signature == "local":  # what a validator using request.url would have accepted
        signature = RequestValidator(TOKEN).compute_signature(site.url + "/sms/inbound", fields)
    response = await site.post(fields, signature)
    assert response.status_code == status, response.text
    stored = await site.stored(fields.get("MessageSid", ""))
    if reply is None:
        assert stored is None
        assert await site.app.repos.inbound.count() == 0
        return
    assert response.headers["content-type"].startswith("application/xml")
    assert reply in response.text and response.text.count("<Message>") == 1
    assert stored["body"] == fields["Body"] and stored["status"] == "handled"
    if fields.get("NumMedia") == "2":
        assert json.loads(stored["attachments"]) == [
            {"url": "https://api.twilio.com/m/ME1", "content_type": "image/jpeg"},
            {"url": "https://api.twilio.com/m/ME2", "content_type": "image/png"},
        ]


async def test_a_retried_message_sid_gets_the_same_answer_and_is_processed_once(site: Site):
    fields = form("汇报 #学习 夜校")
    first = await site.post(fields)
    again = await site.post(fields)
    assert first.status_code == again.status_code == 200
    assert first.text == again.text and "已记录【学习提高】" in first.text
    assert len(await deeds_of(site.app, MEMBER)) == 1
    assert await site.app.repos.inbound.count() == 1


async def test_no_reply_is_an_empty_response(site: Site):
    async def silent(msg: Message, ctx: Context) -> None:
        return None  # a handler with nothing to say

    site.app.router.fallback = Route("silent", silent)
    response = await site.post(form("路灯坏了", sender=STRANGER))
    assert response.status_code == 200
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response />'


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"Body": "hi"}', "application/json", 415),
        (b"Body=hi", "text/plain", 415),
        (b"Body=%E6%B1%87&&==&", "application/x-www-form-urlencoded", 400),
        (b"Body=\xff\xfe", "application/x-www-form-urlencoded", 400),
        (b"Body=a&Body=b", "application/x-www-form-urlencoded", 400),
        (b"Body=" + b"a" * 70_000, "application/x-www-form-urlencoded", 413),
    ],
)
async def test_malformed_requests_get_a_clear_4xx(site: Site, content, content_type, status):
    response = await site.client.post(
        site.url + "/sms/inbound",
        content=content,
        headers={"content-type": content_type, "x-twilio-signature": "x"},
    )
    assert response.status_code == status
    assert response.text.strip()  # says why
    assert await site.app.repos.inbound.count() == 0


async def test_validation_off_is_explicit_and_warned_on_every_start(
    tmp_path, db_url, clock, caplog
):
    with caplog.at_level(logging.WARNING):
        async for s in _site(sms_config(tmp_path, db_url, validate=False), clock):
            response = await s.post((form("汇报 没签名也收")), signature=None)
            assert response.status_code == 200 and "已记录" in response.text
    assert any("validate_signatures is off" in r.getMessage() for r in caplog.records)


async def test_sms_routes_exist_only_when_configured(tmp_path, db_url, clock):
    config = load_config(env={"GRASSROOTS_DATABASE_URL": db_url, **KEY_ENV})
    async with serve_asgi(create_web_app(config, clock)) as url, httpx.AsyncClient() as client:
        assert (await client.post(url + "/sms/inbound", data={"Body": "x"})).status_code == 404
        health = (await client.get(url + "/healthz")).json()
        assert health["channels"] == ["console"]


def test_forms_are_encoded_as_twilio_sends_them():
    # The validator signs the decoded fields; any encoding of them must verify the same.
    fields = form("汇报 空格 与 +号 & 符号")
    signature = RequestValidator(TOKEN).compute_signature(SIGNED_URL, fields)
    from bot.channels.sms import WebhookVerifier, parse_form

    parsed = parse_form(urlencode(fields).encode(), "application/x-www-form-urlencoded")
    WebhookVerifier(ACCOUNT, TOKEN, PUBLIC_URL).verify("/sms/inbound", parsed, signature)
