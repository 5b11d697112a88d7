"""The browser sandbox over HTTP (uvicorn on loopback, both databases): picking a person,
talking as them, replies and broadcasts in their thread with segment counts, poll options
as buttons, and what keeps the sandbox from being misused or from existing where it must
not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import App
from bot.channels.sandbox import PROVIDER_PREFIX, SandboxSender
from bot.clock import FixedClock
from bot.config import Config, load_config
from bot.messages import AddressKind
from bot.texts import Texts
from bot.web.app import create_web_app
from bot.web.sandbox import MAX_BODY_CHARS, MAX_FORM_BYTES, say
from tests.conftest import KEY_ENV
from tests.web.conftest import Site, _site
from tests.web.populate import (
    MEMBERS_HX0101,
    SECRETARY_HX0101,
    VILLAGERS_HX0101,
    load_demo,
)

ZH = Texts("zh-CN")
MEMBER, SECRETARY, VILLAGER = MEMBERS_HX0101[0], SECRETARY_HX0101, VILLAGERS_HX0101[0]
TWILIO = (
    f'[twilio]\naccount_sid = "AC{"1" * 32}"\nfrom_number = "+8610690000"\n'
    'public_url = "https://x.example.org"\napi_base_url = "http://127.0.0.1:9"\n'
)


def sandbox_config(db_url: str, tmp_path: Path, extra: str = "", **env: str) -> Config:
    """The scheduler on, as in `serve` (the sandbox then sweeps around each message, as
    `grassroots chat` does), but not started: the tests run no timers."""
    path = tmp_path / "config.toml"
    path.write_text('[outbox]\nquiet_hours = ""\n' + extra)
    return load_config(path, env={"GRASSROOTS_DATABASE_URL": db_url, **KEY_ENV, **env})


@pytest.fixture
async def sandbox(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for opened in _site(sandbox_config(db_url, tmp_path), clock):
        await load_demo(opened.app)
        yield opened


async def says(site: Site, phone: str, body: str, **form: str) -> httpx.Response:
    """What the plain form does (no script): POST, then the page it redirects to."""
    site.clock.advance(timedelta(seconds=1))  # a conversation takes time: its order is the clock's
    sent = await site.client.post(
        site.url + "/sandbox/chat", data={"phone": phone, "body": body, **form}
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].endswith("#latest")
    return await site.get(sent.headers["location"].split("#")[0])


async def thread(site: Site, phone: str) -> list[dict[str, Any]]:
    response = await site.get("/sandbox/thread.json", params={"phone": phone})
    assert response.status_code == 200
    return response.json()["messages"]


async def arrives(site: Site, phone: str, text: str) -> dict[str, Any]:
    """The message containing `text` once the outbox dispatcher has delivered it to the
    sandbox (it runs in the server, as under `serve`)."""
    async with asyncio.timeout(10):
        while True:
            for message in await thread(site, phone):
                if text in message["body"] and not message["waiting"]:
                    return message
            await asyncio.sleep(0.05)


async def test_the_picker_lists_the_demo_county_by_organisation_and_role(sandbox: Site) -> None:
    page = await sandbox.get("/sandbox")
    assert page.status_code == 200
    html = page.text
    # Organisations in tree order, each with its people under their role.
    order = [
        html.index(name) for name in ("和兴县委", "青山镇党委", "东坡村党支部", "西岭村党支部")
    ]
    assert order == sorted(order)
    branch = html[html.index("东坡村党支部") : html.index("东坡村团支部")]
    assert branch.index(ZH.get("web.sandbox.role.secretary")) < branch.index("张建国")
    assert branch.index(ZH.get("web.sandbox.role.member")) < branch.index("李秀英")
    assert "赵大爷" in branch and "+8613900001101" in branch  # a sandbox on demo data: shown
    assert 'href="/sandbox/chat?phone=%2B8613800001100"' in html
    english = await sandbox.get("/sandbox?lang=en")
    assert "People of the demo county" in english.text and "Secretaries" in english.text


async def test_a_number_is_read_as_people_type_it_and_nonsense_is_refused(sandbox: Site) -> None:
    typed = await sandbox.get("/sandbox/chat", params={"phone": "138 0000 1101"})
    assert typed.status_code == 200 and "李秀英" in typed.text and "+8613800001101" in typed.text
    stranger = await sandbox.get("/sandbox/chat", params={"phone": "13912345678"})
    assert ZH.get("web.sandbox.chat.stranger") in stranger.text
    wrong = await sandbox.get("/sandbox/chat", params={"phone": "12"})
    assert wrong.status_code == 400 and ZH.get("web.sandbox.pick.invalid") in wrong.text
    none = await sandbox.get("/sandbox/chat?lang=en")  # the language link drops the number
    assert none.status_code == 303 and none.headers["location"] == "/sandbox?lang=en"


async def test_a_members_report_is_answered_in_the_thread_without_script(sandbox: Site) -> None:
    page = await says(sandbox, MEMBER, "#服务 帮五保户王大妈修好了屋顶")
    assert page.status_code == 200
    mine, reply = await thread(sandbox, MEMBER)
    assert (mine["mine"], mine["body"]) == (True, "#服务 帮五保户王大妈修好了屋顶")
    assert not reply["mine"] and "服务群众" in reply["body"]
    assert reply["segments"] == 1 and not reply["waiting"]
    assert reply["body"] in page.text  # the page came back with the thread
    # The reply was delivered like any SMS, through the outbox, to the sandbox's channel.
    row = await sandbox.app.repos.db.fetchrow(
        "SELECT status, provider_id, segments FROM outbox WHERE idempotency_key LIKE 'reply:%'"
    )
    assert row is not None and row["status"] == "sent"
    assert row["provider_id"].startswith(PROVIDER_PREFIX) and row["segments"] == 1
    assert isinstance(sandbox.app.senders[AddressKind.SMS], SandboxSender)


async def test_a_secretarys_notice_arrives_in_a_members_thread(sandbox: Site) -> None:
    await says(sandbox, SECRETARY, "通知 明天上午九点在村委会开会")
    notice = await arrives(sandbox, MEMBER, "明天上午九点在村委会开会")
    assert notice["segments"] == 1 and notice["choices"] == []
    assert await arrives(sandbox, MEMBERS_HX0101[3], "明天上午九点在村委会开会")
    # The secretary's own thread holds the acknowledgement, not the notice.
    secretary = await thread(sandbox, SECRETARY)
    assert [m["mine"] for m in secretary] == [True, False]


async def test_poll_options_are_buttons_whose_reply_answers_the_poll(sandbox: Site) -> None:
    await says(sandbox, SECRETARY, "评议 村里路灯修得满意吗/满意/基本满意/不满意")
    prompt = (await thread(sandbox, SECRETARY))[-1]
    assert [c["label"] for c in prompt["choices"]] == ["确认", "取消"]  # kept with the reply
    page = await says(sandbox, SECRETARY, "", choice=prompt["choices"][0]["key"])
    assert page.status_code == 200
    poll = await arrives(sandbox, VILLAGER, "村里路灯修得满意吗")
    assert [c["label"] for c in poll["choices"]] == ["满意", "基本满意", "不满意"]
    assert poll["segments"] >= 2  # the SMS carries the numbered options too
    chat = await sandbox.get("/sandbox/chat", params={"phone": VILLAGER})
    key = poll["choices"][1]["key"]
    assert f'name="choice" value="{key}"' in chat.text and 'form="sb-compose"' in chat.text
    await says(sandbox, VILLAGER, "", choice=key)
    answer, thanks = (await thread(sandbox, VILLAGER))[-2:]
    assert answer["mine"] and answer["kept_as_marker"]  # the log keeps no ballot
    assert "基本满意" not in answer["body"] + thanks["body"]  # nor does the stored reply
    tally = await sandbox.app.repos.db.fetchval("SELECT COUNT(*) AS n FROM sealed_ballots")
    assert tally == 1


async def test_a_form_sent_twice_is_one_message(sandbox: Site) -> None:
    for _ in range(2):
        await says(sandbox, MEMBER, "查询", nonce="n0nce-for-this-page")
    assert [m["mine"] for m in await thread(sandbox, MEMBER)] == [True, False]


async def test_the_script_gets_the_thread_back_and_an_unchanged_thread_is_a_304(
    sandbox: Site,
) -> None:
    sent = await sandbox.client.post(
        sandbox.url + "/sandbox/chat?fragment=1", data={"phone": MEMBER, "body": "帮助"}
    )
    assert sent.status_code == 200 and sent.text.count('class="sb-msg ') == 2
    first = await sandbox.get("/sandbox/thread", params={"phone": MEMBER})
    tag = first.headers["etag"]
    data = await sandbox.get("/sandbox/thread.json", params={"phone": MEMBER})
    assert "access-control-allow-origin" not in data.headers  # no other site reads a thread
    again = await sandbox.get(
        "/sandbox/thread", params={"phone": MEMBER}, headers={"if-none-match": tag}
    )
    assert again.status_code == 304 and again.content == b""
    await says(sandbox, MEMBER, "查询")
    changed = await sandbox.get(
        "/sandbox/thread", params={"phone": MEMBER}, headers={"if-none-match": tag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != tag


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://other.127.0.0.1.nip.io"},
    ],
)
async def test_a_post_from_another_site_is_refused(sandbox: Site, headers: dict[str, str]) -> None:
    refused = await sandbox.client.post(
        sandbox.url + "/sandbox/chat", data={"phone": MEMBER, "body": "帮助"}, headers=headers
    )
    assert refused.status_code == 403
    assert await sandbox.app.repos.inbound.count() == 0


async def test_a_post_from_the_sandbox_page_itself_is_taken(sandbox: Site) -> None:
    own = {"origin": sandbox.url, "sec-fetch-site": "same-origin"}
    sent = await sandbox.client.post(
        sandbox.url + "/sandbox/chat", data={"phone": MEMBER, "body": "帮助"}, headers=own
    )
    assert sent.status_code == 303 and await sandbox.app.repos.inbound.count() == 1


async def test_bodies_are_limited_in_size(sandbox: Site) -> None:
    url = sandbox.url + "/sandbox/chat"
    big = await sandbox.client.post(url, content=b"phone=1&body=" + b"x" * MAX_FORM_BYTES)
    assert big.status_code == 413
    long = await sandbox.client.post(
        url, data={"phone": MEMBER, "body": "字" * (MAX_BODY_CHARS + 1)}
    )
    assert long.status_code == 413
    assert await sandbox.app.repos.inbound.count() == 0


async def test_with_twilio_configured_and_nothing_said_there_is_no_sandbox(
    db_url: str, tmp_path: Path
) -> None:
    config = sandbox_config(db_url, tmp_path, TWILIO, TWILIO_AUTH_TOKEN="x")
    assert not config.sandbox_on
    web = create_web_app(config, with_scheduler=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://t"
    ) as client:
        for path in ("/sandbox", "/sandbox/chat?phone=13800001101", "/sandbox/thread.json"):
            assert (await client.get(path)).status_code == 404, path
        posted = await client.post("/sandbox/chat", data={"phone": MEMBER, "body": "帮助"})
        assert posted.status_code in (404, 405)


async def test_a_sandbox_switched_on_beside_twilio_never_sends_its_replies_by_sms(
    db_url: str, tmp_path: Path
) -> None:
    config = sandbox_config(
        db_url, tmp_path, TWILIO + "[web]\nsandbox = true\n", TWILIO_AUTH_TOKEN="x"
    )
    assert config.sandbox_on
    async with await App.open(config, sandbox_sms=config.sandbox_on) as app:
        assert not isinstance(app.senders[AddressKind.SMS], SandboxSender)  # Twilio's
        await load_demo(app)
        await say(app, MEMBER, "帮助", None, None)
        assert await app.repos.db.fetchval("SELECT COUNT(*) AS n FROM outbox") == 0
