"""The console's notices: preview (cost, quiet hours), send through the same code as 通知,
watch it finish against a fake Twilio with the dispatcher running, a failed recipient with
the reason, cancel what waits, CSRF."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.clock import FixedClock
from bot.config import load_config
from bot.privacy import mask_phone
from bot.segments import count_segments
from bot.texts import texts_for
from bot.web.console.access import COOKIE
from tests.conftest import KEY_ENV
from tests.servers import serve_asgi
from tests.test_sms_outbound import CREATED
from tests.test_sms_webhook import ACCOUNT, PUBLIC_URL, TOKEN
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site, _site
from tests.web.populate import LEADER_HX01, MEMBERS_HX0101, SECRETARY_HX0101, load_demo

BAD = MEMBERS_HX0101[1]  # the fake provider refuses this number
TEXT = "周五晚七点在村部开党员大会，请准时参加。"


class Provider:
    """Twilio's Messages.json: accepts every number but BAD (21211, invalid 'To')."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def create(self, request: Request) -> JSONResponse:
        fields = dict(parse_qsl((await request.body()).decode()))
        if fields["To"] == BAD:
            return JSONResponse(
                {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400},
                status_code=400,
            )
        self.sent.append(fields["To"])
        payload = copy.deepcopy(CREATED) | {
            "sid": f"SM{len(self.sent):032d}",
            "to": fields["To"],
            "body": fields["Body"],
        }
        return JSONResponse({k: v for k, v in payload.items() if not k.startswith("_")}, 201)


@pytest.fixture
async def provider() -> Provider:
    return Provider()


@pytest.fixture
async def sms_site(
    db_url: str, tmp_path: Path, clock: FixedClock, provider: Provider
) -> AsyncIterator[Site]:
    fake = Starlette(
        routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", provider.create, methods=["POST"])
        ]
    )
    async with serve_asgi(fake) as fake_url:
        extra = (
            f'[twilio]\naccount_sid = "{ACCOUNT}"\nfrom_number = "+8610690000"\n'
            f'public_url = "{PUBLIC_URL}"\napi_base_url = "{fake_url}"\n'
        )
        path = tmp_path / "config.toml"
        path.write_text("[scheduler]\nenabled = false\n" + extra)
        env = {"GRASSROOTS_DATABASE_URL": db_url, "TWILIO_AUTH_TOKEN": TOKEN, **KEY_ENV}
        config = load_config(path, env=env)
        async for opened in _site(config, clock):
            await load_demo(opened.app)
            yield opened


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found[1]


async def compose(client: httpx.AsyncClient, action: str, **extra: object) -> httpx.Response:
    page = await client.get("/console/o/HX0101/broadcasts")
    form = {
        "csrf": csrf_of(page.text),
        "text": TEXT,
        "roles": ["member", "public"],
        "action": action,
    }
    return await client.post("/console/o/HX0101/broadcasts", data=form | extra)


async def finished(client: httpx.AsyncClient, path: str) -> dict:
    for _ in range(200):
        live = (await client.get(path + ".json")).json()
        if live["done"]:
            return live
        await asyncio.sleep(0.05)
    raise AssertionError(f"not finished: {live}")


async def test_preview_send_watch_it_finish_and_see_the_failure(sms_site: Site, provider: Provider):
    client = await sms_site.signed_in(SECRETARY_HX0101)
    preview = await compose(client, "preview")
    assert preview.status_code == 303 and "csrf" not in preview.headers["location"]
    page = await client.get(preview.headers["location"])
    assert page.status_code == 200
    # The cost: segments of the signed text, as 通知 counts them, times those reached by SMS
    signed = texts_for("zh-CN").get("broadcast.signed", org="东坡村党支部", text=TEXT)
    segments = count_segments(signed).segments
    # A chat channel is named when someone is reached on it (bot/reach.py).
    line = re.search(
        r"短信(\d+)人，每条短信(\d+)段，合计(\d+)段(?:；Telegram (\d+)人)?。", page.text
    )
    assert line is not None, page.text
    sms, each, total, telegram = (int(n or 0) for n in line.groups())
    assert each == segments and total == segments * sms and sms > 0
    assert "现在是免打扰时段" not in page.text  # 10:00 in Beijing
    assert await sms_site.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM broadcasts") == 0

    sent = await compose(client, "send")
    assert sent.status_code == 303
    path = sent.headers["location"]
    live = await finished(client, path)
    assert live["total"] == sms + telegram
    assert (live["failed"], live["waiting"]) == (1, 0)
    assert live["sent"] + live["delivered"] == live["total"] - 1
    assert BAD not in provider.sent and len(provider.sent) == live["total"] - 1
    shown = (await client.get(path)).text
    assert mask_phone(BAD) in shown and BAD not in shown
    assert "21211" in shown and "Invalid" in shown
    assert "王志强" in shown  # a member's name: organisers in scope may see it
    kinds = await sms_site.app.repos.db.fetch("SELECT kind, created_by FROM broadcasts")
    assert [r["kind"] for r in kinds] == ["notice"]  # the same code as 通知 by SMS
    audit = await sms_site.app.repos.db.fetch("SELECT action FROM audit_log")
    assert [r["action"] for r in audit] == ["broadcast.send"]


async def test_quiet_hours_warn_and_cancel_stops_the_waiting_rows(sms_site: Site):
    sms_site.clock.set(sms_site.clock.now() + timedelta(hours=12))  # 22:00 in Beijing
    client = await sms_site.signed_in(SECRETARY_HX0101)
    page = await client.get((await compose(client, "preview")).headers["location"])
    assert "现在是免打扰时段，短信明天08:00发出" in page.text
    sent = await compose(client, "send")
    path = sent.headers["location"]
    broadcast = int(path.rsplit("/", 1)[1])
    db = sms_site.app.repos.db
    # One row is with a dispatcher right now: it is not touched
    await db.write(
        "UPDATE outbox SET status = 'sending' WHERE id = "
        "(SELECT MIN(id) FROM outbox WHERE broadcast_id = :b)",
        {"b": broadcast},
    )
    waiting = await db.fetchval(
        "SELECT COUNT(*) AS n FROM outbox WHERE broadcast_id = :b AND status = 'pending'",
        {"b": broadcast},
    )
    assert waiting > 1
    shown = await client.get(path)
    done = await client.post(path + "/cancel", data={"csrf": csrf_of(shown.text)})
    assert done.status_code == 303
    rows = await db.fetch(
        "SELECT status, COUNT(*) AS n FROM outbox WHERE broadcast_id = :b GROUP BY status",
        {"b": broadcast},
    )
    assert {r["status"]: int(r["n"]) for r in rows} == {"cancelled": waiting, "sending": 1}
    after = (await client.get(done.headers["location"])).text
    assert f"已停止：{waiting}条不再发送，1条正在发送" in after
    live = (await client.get(path + ".json")).json()
    assert (live["cancelled"], live["waiting"]) == (waiting, 1)


async def test_scope_and_csrf(sms_site: Site):
    client = await sms_site.signed_in(SECRETARY_HX0101)
    sent = await compose(client, "send")
    path = sent.headers["location"]
    other = await sms_site.signed_in("+8613800003100")  # HX0201's secretary
    for url in ("/console/o/HX0101/broadcasts", path, path + ".json"):
        assert (await other.get(url)).status_code == 404, url
    # The same broadcast under the secretary's own organisation's code: still unknown
    assert (await other.get(path.replace("HX0101", "HX0201"))).status_code == 404
    leader = await sms_site.signed_in(LEADER_HX01)
    assert (await leader.get(path)).status_code == 200
    english = await leader.get(path + "?lang=en")
    assert "Progress" in english.text and "发送进度" not in english.text
    refused = await client.post(
        "/console/o/HX0101/broadcasts", data={"text": TEXT, "roles": "member", "action": "send"}
    )
    assert refused.status_code == 403
    refused = await client.post(path + "/cancel", data={})
    assert refused.status_code == 403
    count = await sms_site.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM broadcasts")
    assert count == 1


async def test_in_the_browser_send_a_notice_and_see_its_progress(sms_site: Site, browser, shoot):
    client = await sms_site.signed_in(SECRETARY_HX0101)
    context = await browser.new_context(**ZH_PHONE)
    await context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": sms_site.url + "/console"}]
    )
    page = await context.new_page()
    await page.goto(sms_site.url + "/console/o/HX0101/broadcasts")
    await page.get_by_label("通知内容").fill(TEXT)
    await page.get_by_role("button", name="预览").click()
    await page.wait_for_selector("#preview")
    assert "合计" in await page.locator("#preview").inner_text()
    await shoot(page, "console-notice-preview")
    assert await horizontal_overflow(page) == 0
    await page.get_by_role("button", name="发送").click()
    await page.wait_for_selector("#progress")
    await shoot(page, "console-notice-progress")
    # The page follows the progress by itself and lists the failure once done
    await page.wait_for_selector("#failed", timeout=20000)
    assert mask_phone(BAD) in await page.locator("#failed").inner_text()
    await shoot(page, "console-notice-done")
    assert await horizontal_overflow(page) == 0
    await context.close()


async def test_every_role_at_once_from_a_leader(sms_site: Site):
    client = await sms_site.signed_in(LEADER_HX01)
    page = await client.get("/console/o/HX01/broadcasts")
    roles = ["member", "secretary", "public", "leader"]
    form = {"csrf": csrf_of(page.text), "text": TEXT, "roles": roles, "action": "send"}
    sent = await client.post("/console/o/HX01/broadcasts", data=form)
    assert sent.status_code == 303
    row = await sms_site.app.repos.db.fetchrow("SELECT role, total FROM broadcasts")
    assert row is not None and row["role"] == "mem+sec+pub+lea"
    # A leader speaks to the township's subtree: both villages' members, not the leader
    assert row["total"] > 14
