"""Sending SMS through the real twilio.rest.Client against a local fake of Twilio's REST API,
and status callbacks arriving in and out of order."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.app import App
from bot.config import load_config
from bot.messages import Address, AddressKind, Outbound
from bot.outbox import deliver
from bot.web.app import create_web_app
from storage.engine import as_datetime
from tests.conftest import KEY_ENV, MEMBER, populate_roster
from tests.servers import serve_asgi
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL, TOKEN

CREATED = json.loads((Path(__file__).parent / "data" / "twilio_message_created.json").read_text())


@dataclass
class FakeTwilio:
    """Records each Messages.json request and answers with the next scripted response."""

    answers: list[tuple[int, dict]] = field(default_factory=list)
    requests: list[dict[str, object]] = field(default_factory=list)

    async def create(self, request: Request) -> JSONResponse:
        fields = dict(parse_qsl((await request.body()).decode()))
        self.requests.append(
            {
                "path": request.url.path,
                "auth": request.headers.get("authorization", ""),
                "fields": fields,
            }
        )
        status, payload = self.answers.pop(0) if self.answers else (201, {})
        if status == 201:
            payload = copy.deepcopy(CREATED) | {
                "sid": f"SM{len(self.requests):032d}",
                "to": fields.get("To"),
                "body": fields["Body"],
            }
        return JSONResponse(
            {k: v for k, v in payload.items() if not k.startswith("_")}, status_code=status
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self.create, methods=["POST"])
            ]
        )


def error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }


@dataclass
class Rig:
    app: App
    fake: FakeTwilio
    url: str
    client: httpx.AsyncClient

    async def queue(self, body: str, to: str = MEMBER, key: str = "k1") -> int:
        await self.app.repos.outbox.enqueue(
            key, Outbound(Address(AddressKind.SMS, to), body), self.app.clock.now()
        )
        return await self.app.repos.db.fetchval(
            "SELECT id FROM outbox WHERE idempotency_key = :k", {"k": key}
        )

    async def status(self, sid: str, status: str, error_code: str | None = None) -> int:
        fields = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": ACCOUNT,
            "To": MEMBER,
            "From": "+8610690000",
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            fields["ErrorCode"] = error_code
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/sms/status", fields)
        response = await self.client.post(
            self.url + "/sms/status", data=fields, headers={"X-Twilio-Signature": signature}
        )
        return response.status_code


@pytest.fixture
async def rig(tmp_path, db_url, clock) -> AsyncIterator[Rig]:
    fake = FakeTwilio()
    async with serve_asgi(fake.app()) as fake_url:
        config_file = tmp_path / "config.toml"
        config_file.write_text(
            f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
            f'public_url = "{PUBLIC_URL}"\napi_base_url = "{fake_url}"\n'
        )
        config = load_config(
            config_file,
            env={"GRASSROOTS_DATABASE_URL": db_url, "TWILIO_AUTH_TOKEN": TOKEN, **KEY_ENV},
        )
        web = create_web_app(config, clock)
        async with serve_asgi(web) as url, httpx.AsyncClient() as client:
            app: App = web.state.bot
            await populate_roster(app)
            yield Rig(app, fake, url, client)


async def row(rig: Rig, outbox_id: int) -> dict:
    stored = await rig.app.repos.outbox.get(outbox_id)
    assert stored is not None
    return stored


async def test_a_message_is_sent_with_status_callback_and_its_cost_recorded(rig: Rig):
    outbox_id = await rig.queue("东坡村党支部：本周五召开党员大会，请准时参加。")
    outcome = await deliver(rig.app.repos, rig.app.senders, outbox_id, rig.app.clock.now())
    assert outcome.status == "sent"
    [request] = rig.fake.requests
    assert request["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["auth"].startswith("Basic ")
    assert request["fields"] == {
        "To": MEMBER,
        "From": "+8610690000",
        "Body": "东坡村党支部：本周五召开党员大会，请准时参加。",
        "StatusCallback": PUBLIC_URL + "/sms/status",
    }
    stored = await row(rig, outbox_id)
    assert (stored["status"], stored["provider_id"], stored["channel_status"]) == (
        "sent",
        "SM" + "1".zfill(32),
        "queued",
    )
    assert (stored["segments"], stored["encoding"], stored["attempts"]) == (1, "UCS-2", 1)


@pytest.mark.parametrize(
    ("answer", "outcome", "status", "code", "address_effect"),
    [
        (
            error(400, 21610, "Attempt to send to unsubscribed recipient"),
            "failed",
            "failed",
            "21610",
            "opted_out_at",
        ),
        (
            error(400, 21211, "The 'To' number is not a valid phone number."),
            "failed",
            "failed",
            "21211",
            "invalid_at",
        ),
        (
            error(400, 21614, "'To' number is not a valid mobile number"),
            "failed",
            "failed",
            "21614",
            "invalid_at",
        ),
        (error(429, 20429, "Too Many Requests"), "retry", "pending", "20429", None),
        (error(500, 20500, "Internal Server Error"), "retry", "pending", "20500", None),
        (
            error(400, 21408, "Permission to send an SMS has not been enabled for the region"),
            "failed",
            "failed",
            "21408",
            None,
        ),
    ],
)
async def test_errors_are_classified(rig: Rig, answer, outcome, status, code, address_effect):
    rig.fake.answers.append(answer)
    outbox_id = await rig.queue("通知")
    now = rig.app.clock.now()
    result = await deliver(rig.app.repos, rig.app.senders, outbox_id, now)
    assert result.status == outcome
    stored = await row(rig, outbox_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == (status, code, 1)
    assert answer[1]["message"] in stored["last_error"]
    if status == "pending":  # retried later, not now
        assert as_datetime(stored["not_before"]) > now
    address = await rig.app.repos.db.fetchrow(
        "SELECT opted_out_at, invalid_at FROM addresses WHERE value = :v", {"v": MEMBER}
    )
    for column in ("opted_out_at", "invalid_at"):
        assert (address[column] is not None) == (column == address_effect), column


async def test_an_opted_out_address_is_not_tried(rig: Rig):
    await rig.app.repos.people.opt_out(Address(AddressKind.SMS, MEMBER), rig.app.clock.now())
    outbox_id = await rig.queue("通知")
    assert (
        await deliver(rig.app.repos, rig.app.senders, outbox_id, rig.app.clock.now())
    ).status == "failed"
    assert rig.fake.requests == []


async def test_a_transient_failure_then_success(rig: Rig):
    rig.fake.answers.append(error(503, 20503, "Service Unavailable"))
    outbox_id = await rig.queue("通知")
    assert (
        await deliver(rig.app.repos, rig.app.senders, outbox_id, rig.app.clock.now())
    ).status == "retry"
    rig.app.clock.advance(timedelta(hours=1))
    assert (
        await deliver(rig.app.repos, rig.app.senders, outbox_id, rig.app.clock.now())
    ).status == "sent"
    stored = await row(rig, outbox_id)
    assert (stored["status"], stored["attempts"], stored["last_error"]) == ("sent", 2, None)
    assert len(rig.fake.requests) == 2


async def sent_message(rig: Rig) -> tuple[int, str]:
    outbox_id = await rig.queue("通知")
    outcome = await deliver(rig.app.repos, rig.app.senders, outbox_id, rig.app.clock.now())
    return outbox_id, outcome.detail


async def test_status_callbacks_in_order(rig: Rig):
    outbox_id, sid = await sent_message(rig)
    for status in ("sending", "sent", "delivered"):
        assert await rig.status(sid, status) == 204
        assert (await row(rig, outbox_id))["channel_status"] == status
    assert (await row(rig, outbox_id))["status"] == "delivered"


async def test_status_callbacks_out_of_order_and_twice_never_go_back(rig: Rig):
    outbox_id, sid = await sent_message(rig)
    for status in ("delivered", "sent", "sending", "delivered", "queued"):
        assert await rig.status(sid, status) == 204
    stored = await row(rig, outbox_id)
    assert (stored["channel_status"], stored["status"]) == ("delivered", "delivered")


async def test_undelivered_records_the_error_code(rig: Rig):
    outbox_id, sid = await sent_message(rig)
    assert await rig.status(sid, "sent") == 204
    assert await rig.status(sid, "undelivered", "30003") == 204
    assert await rig.status(sid, "sent") == 204  # late
    stored = await row(rig, outbox_id)
    assert (stored["channel_status"], stored["status"], stored["error_code"]) == (
        "undelivered",
        "failed",
        "30003",
    )


async def test_status_callbacks_are_signed_too(rig: Rig):
    outbox_id, sid = await sent_message(rig)
    response = await rig.client.post(
        rig.url + "/sms/status",
        data={"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT},
        headers={"X-Twilio-Signature": "Zm9yZ2Vk"},
    )
    assert response.status_code == 403
    assert (await row(rig, outbox_id))["channel_status"] == "queued"
    assert await rig.status("SM" + "9" * 32, "delivered") == 204  # unknown sid: acknowledged


@pytest.mark.parametrize(
    ("code", "column"),
    [("30005", "invalid_at"), ("30006", "invalid_at"), ("21610", "opted_out_at"), ("30003", None)],
)
async def test_a_failure_reported_later_is_honoured_for_the_next_broadcast(rig: Rig, code, column):
    _, sid = await sent_message(rig)
    assert await rig.status(sid, "undelivered", code) == 204
    address = await rig.app.repos.db.fetchrow(
        "SELECT opted_out_at, invalid_at FROM addresses WHERE value = :v", {"v": MEMBER}
    )
    for name in ("opted_out_at", "invalid_at"):
        assert (address[name] is not None) == (name == column), name
