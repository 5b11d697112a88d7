"""The console's previews name WeChat followers as the SMS previews do (bot/reach.py): a
notice's preview line and a poll's figures, and what is queued then matches them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.messages import Address, AddressKind
from tests.web.conftest import Site, _site, web_config
from tests.web.populate import SECRETARY_HX0101, VILLAGERS_HX0101, load_demo
from tests.web.test_console_broadcasts import compose
from tests.web.test_console_polls import create, figures

OPENIDS = ["oV-Fv5Zq3aYyQz_villager001", "oV-Fv5Zq3aYyQz_villager002"]


@pytest.fixture
async def wechat_site(sqlite_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    """The demo county (SQLite: this is about the words), two villagers of 东坡村 also
    following the account on WeChat, as 绑定 leaves them."""
    async for opened in _site(web_config(sqlite_url, tmp_path), clock):
        await load_demo(opened.app)
        for openid, phone in zip(OPENIDS, VILLAGERS_HX0101, strict=False):
            await opened.app.repos.people.link(
                Address(AddressKind.WECHAT, openid),
                Address(AddressKind.SMS, phone),
                clock.now(),
            )
        yield opened


async def queued(site: Site) -> dict[str, int]:
    rows = await site.app.repos.db.fetch(
        "SELECT address_kind, COUNT(*) AS n FROM outbox GROUP BY address_kind"
    )
    return {r["address_kind"]: int(r["n"]) for r in rows}


async def test_a_notice_preview_names_wechat_and_charges_only_the_sms(wechat_site: Site):
    client = await wechat_site.signed_in(SECRETARY_HX0101)
    preview = await compose(client, "preview")
    page = await client.get(preview.headers["location"])
    line = re.search(
        r"短信(\d+)人，每条短信(\d+)段，合计(\d+)段；(?:Telegram (\d+)人，)?微信(\d+)人。",
        page.text,
    )
    assert line is not None, page.text
    sms, each, total, telegram, wechat = (int(n or 0) for n in line.groups())
    assert wechat == 2 and total == each * sms > 0

    sent = await compose(client, "send")
    assert sent.status_code == 303
    assert await queued(wechat_site) == {
        kind: n for kind, n in {"sms": sms, "telegram": telegram, "wechat": 2}.items() if n
    }


async def test_a_poll_preview_has_a_wechat_figure(wechat_site: Site):
    client, made = await create(wechat_site, SECRETARY_HX0101, "村里路灯修得满意吗")
    assert made.status_code == 303
    shown = figures((await client.get(made.headers["location"])).text)
    assert shown["by_wechat"] == 2
    chats = shown.get("by_telegram", 0) + shown["by_wechat"]
    assert shown["people"] == shown["by_sms"] + chats
    assert shown["cost"] == shown["segments"] * shown["by_sms"]
