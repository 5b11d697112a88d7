"""WeChat's sending limits: known before trying, and a message kept back goes by SMS.

The WeChat sender here is a stub of kind WECHAT (the real one, bot/channels/wechat.py, maps
the platform's 45015/45047/... to the same PLATFORM_LIMIT failure); around it is the real
LimitedSender, and the real dispatcher sends a real broadcast from the outbox.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.channels.base import Failure, SendError, SendResult
from bot.cli import main
from bot.clock import FixedClock
from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from bot.wechat_limits import LimitedSender, Verdict, WeChatLimits, judge
from storage import platform_limits
from storage.models import Role
from storage.wechat_window import Standing
from tests.conftest import KEY_ENV, MEMBER, MEMBER_2, SECRETARY, populate_roster
from tests.test_dispatcher import FakeChannel, settings
from tests.web.conftest import _site, web_config

LIN = "oLinXiuying0000000000000001"  # 李秀英 (MEMBER) follows the account
WANG = "oWangZhiqiang00000000000002"  # 王志强 (MEMBER_2) too


@dataclass
class StubWeChat:
    """Sends to followers, or refuses as the platform would for the OpenIDs in `refuse`."""

    kind: AddressKind = AddressKind.WECHAT
    channel: str = "console"  # paced as the console: the tests do not wait on a send rate
    refuse: dict[str, str] = field(default_factory=dict)
    pieces: int | None = None  # a long text goes as this many customer-service messages
    sent: list[Outbound] = field(default_factory=list)

    async def send(self, message: Outbound) -> SendResult:
        if code := self.refuse.get(message.to.value):
            raise SendError(Failure.PLATFORM_LIMIT, code, "response out of time limit")
        self.sent.append(message)
        return SendResult(f"WX{len(self.sent)}", "sent", segments=self.pieces)

    async def close(self) -> None:
        return None


NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_hours", "cs_sent", "pushes", "limits", "verdict"),
    [
        (1, 0, 0, WeChatLimits(0), Verdict("cs")),
        (47, 4, 0, WeChatLimits(0), Verdict("cs")),
        (47, 5, 0, WeChatLimits(0), Verdict(None, "count")),
        (None, 0, 0, WeChatLimits(0), Verdict(None, "window")),
        (49, 0, 0, WeChatLimits(0), Verdict(None, "window")),
        (49, 0, 3, WeChatLimits(4), Verdict("push")),
        (49, 0, 4, WeChatLimits(4), Verdict(None, "quota")),
        (1, 5, 4, WeChatLimits(4), Verdict(None, "quota")),
        (None, 0, 900, WeChatLimits(None), Verdict("push")),
    ],
)
def test_the_platforms_rules(last_hours, cs_sent, pushes, limits, verdict):
    last = None if last_hours is None else NOW - timedelta(hours=last_hours)
    assert judge(Standing(last, cs_sent, pushes), NOW, limits) == verdict


def test_what_an_account_may_push():
    assert WeChatLimits.for_account("subscription", "T1") == WeChatLimits(0)
    assert WeChatLimits.for_account("service") == WeChatLimits(4)
    assert WeChatLimits.for_account("service", "TPL_ID") == WeChatLimits(None)


async def follow(app: App, openid: str, phone: str) -> Address:
    """The follower has bound their chat to their roster phone (handlers/binding.py)."""
    chat = Address(AddressKind.WECHAT, openid)
    await app.repos.people.link(chat, Address(AddressKind.SMS, phone), app.clock.now())
    return chat


async def writes(app: App, chat: Address, body: str = "收到") -> None:
    inbound = Inbound(Channel.WECHAT, uuid.uuid4().hex, chat, body, app.clock.now())
    await app.router.handle(inbound)


async def broadcast(app: App, text: str) -> int:
    branch = await app.repos.orgs.by_code("HX0101")
    assert branch is not None
    made, _ = await app.repos.outbox.broadcast_to_audience(
        kind="broadcast",
        texts={"zh-CN": text, "en": text},
        default_language="zh-CN",
        now=app.clock.now(),
        root_org_id=branch.id,
        roles=[Role.MEMBER],
        source=None,
    )
    return made


async def send_all(app: App, wechat: StubWeChat, sms: FakeChannel, limits: WeChatLimits) -> None:
    from bot.dispatcher import Dispatcher
    from tests.test_dispatcher import ZONE

    senders = {
        AddressKind.WECHAT: LimitedSender(wechat, app.repos.db, app.clock, limits),
        AddressKind.SMS: sms,
    }
    dispatcher = Dispatcher(app.repos, senders, app.clock, settings(), ZONE)  # type: ignore[arg-type]
    while await dispatcher.drain_once():
        pass


def to(messages: list[Outbound]) -> list[str]:
    return sorted(m.to.value for m in messages)


def bodies(messages: list[Outbound], number: str = MEMBER) -> list[str]:
    return [m.body for m in messages if m.to.value == number]


async def test_a_follower_out_of_the_window_gets_the_broadcast_by_sms(county: App):
    lin = await follow(county, LIN, MEMBER)
    wang = await follow(county, WANG, MEMBER_2)
    await writes(county, lin)  # 李秀英 wrote two days and an hour ago; 王志强 an hour ago
    county.clock.advance(timedelta(hours=48))
    await writes(county, wang)
    county.clock.advance(timedelta(hours=1))

    wechat, sms = StubWeChat(), FakeChannel()
    broadcast_id = await broadcast(county, "周五晚七点开党员大会")
    await send_all(county, wechat, sms, WeChatLimits(0))

    # Known before trying: the platform was never asked about 李秀英.
    assert to(wechat.sent) == [WANG]
    assert to(sms.sent) == [MEMBER]
    assert sms.sent[0].body == "周五晚七点开党员大会"
    status = await county.repos.outbox.broadcast_status(broadcast_id)
    assert status is not None
    assert (status.total, status.counts) == (3, {"sent": 2, "failed": 1})
    assert status.done == status.total
    assert await platform_limits.for_broadcast(county.repos.db, broadcast_id) == [
        platform_limits.LimitCount("wechat", "window", 1, 1)
    ]

    # A second run sends nothing twice.
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert (len(wechat.sent), len(sms.sent)) == (1, 1)


async def test_five_customer_service_messages_per_window_then_sms(county: App):
    lin = await follow(county, LIN, MEMBER)
    await writes(county, lin)
    wechat, sms = StubWeChat(), FakeChannel()
    for i in range(6):
        await broadcast(county, f"通知{i}")
        await send_all(county, wechat, sms, WeChatLimits(0))
    assert [m.body for m in wechat.sent] == [f"通知{i}" for i in range(5)]
    assert bodies(sms.sent) == ["通知5"]

    # Her next message opens a new window with a new count.
    county.clock.advance(timedelta(minutes=5))
    await writes(county, lin, "好的")
    await broadcast(county, "通知6")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert wechat.sent[-1].body == "通知6"


async def test_the_platforms_own_refusal_falls_back_and_is_remembered(county: App):
    lin = await follow(county, LIN, MEMBER)
    await writes(county, lin)
    wechat, sms = StubWeChat(refuse={LIN: "45047"}), FakeChannel()
    first = await broadcast(county, "第一条")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert bodies(sms.sent) == ["第一条"]
    assert await platform_limits.for_broadcast(county.repos.db, first) == [
        platform_limits.LimitCount("wechat", "count", 1, 1)  # what 45047 means
    ]
    row = await county.repos.db.fetchrow(
        "SELECT error_code, last_error FROM outbox WHERE broadcast_id = :b AND address = :a",
        {"b": first, "a": LIN},
    )
    assert row["error_code"] == "45047" and "sent by SMS instead" in row["last_error"]

    # The window's count is spent: the next one is not even tried on WeChat.
    wechat.refuse.clear()
    await broadcast(county, "第二条")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert wechat.sent == [] and bodies(sms.sent) == ["第一条", "第二条"]


async def test_mass_send_quota_of_a_service_account(county: App):
    await follow(county, LIN, MEMBER)  # never wrote: only pushes reach her
    wechat, sms = StubWeChat(), FakeChannel()
    for i in range(5):
        await broadcast(county, f"月报{i}")
        await send_all(county, wechat, sms, WeChatLimits.for_account("service"))
    assert len(wechat.sent) == 4 and bodies(sms.sent) == ["月报4"]
    # A new month, a new quota (Beijing's calendar).
    county.clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 12-01 00:00 in Beijing
    await broadcast(county, "十二月")
    await send_all(county, wechat, sms, WeChatLimits.for_account("service"))
    assert wechat.sent[-1].body == "十二月"


async def test_without_a_phone_the_reason_is_kept_and_shown(county: App, db_url: str):
    await follow(county, LIN, MEMBER)
    await county.repos.people.opt_out(Address(AddressKind.SMS, MEMBER), county.clock.now())
    wechat, sms = StubWeChat(), FakeChannel()
    broadcast_id = await broadcast(county, "周五晚七点开党员大会")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert wechat.sent == [] and to(sms.sent) == [MEMBER_2]  # 王志强 has no WeChat: SMS
    assert await platform_limits.for_broadcast(county.repos.db, broadcast_id) == [
        platform_limits.LimitCount("wechat", "window", 1, 0)
    ]

    env = {"GRASSROOTS_DATABASE_URL": db_url, **KEY_ENV}
    args = ["broadcast", "status", str(broadcast_id)]
    out = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert out.exit_code == 0, out.output
    assert "微信：1人未送达，对方48小时内未发过消息，平台不许再发；其中0人已改发短信" in out.output


async def test_a_follower_the_roster_does_not_know_is_left_to_the_platform(county: App):
    stranger = Address(AddressKind.WECHAT, "oStranger000000000000000003")
    wechat = StubWeChat()
    limited = LimitedSender(wechat, county.repos.db, county.clock, WeChatLimits(0))
    await limited.send(Outbound(stranger, "您好"))
    assert to(wechat.sent) == [stranger.value]


async def test_the_console_says_why_a_wechat_recipient_was_not_reached(
    db_url: str, tmp_path: Path, clock: FixedClock
):
    async for site in _site(web_config(db_url, tmp_path), clock):
        app = site.app
        await populate_roster(app)
        await follow(app, LIN, MEMBER)
        broadcast_id = await broadcast(app, "周五晚七点开党员大会")
        await send_all(app, StubWeChat(), FakeChannel(), WeChatLimits(0))

        client = await site.signed_in(SECRETARY)
        page = await client.get(f"/console/o/HX0101/broadcasts/{broadcast_id}")
        assert page.status_code == 200
        assert "平台限制" in page.text
        assert (
            "微信：1人未送达，对方48小时内未发过消息，平台不许再发；其中1人已改发短信" in page.text
        )
        english = await client.get(f"/console/o/HX0101/broadcasts/{broadcast_id}?lang=en")
        assert "WeChat: 1 not reached, no message from them in 48 hours" in english.text
        await client.aclose()


async def test_an_account_wide_limit_falls_back_but_is_not_the_followers(county: App):
    lin = await follow(county, LIN, MEMBER)
    await writes(county, lin)
    wechat, sms = StubWeChat(refuse={LIN: "45009"}), FakeChannel()  # the day's API quota
    first = await broadcast(county, "第一条")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert bodies(sms.sent) == ["第一条"]
    assert await platform_limits.for_broadcast(county.repos.db, first) == [
        platform_limits.LimitCount("wechat", "platform", 1, 1)
    ]
    wechat.refuse.clear()  # the next day
    await broadcast(county, "第二条")
    await send_all(county, wechat, sms, WeChatLimits(0))
    assert [m.body for m in wechat.sent] == ["第二条"]


async def test_a_long_text_in_pieces_counts_each_piece(county: App):
    lin = await follow(county, LIN, MEMBER)
    await writes(county, lin)
    wechat, sms = StubWeChat(pieces=3), FakeChannel()
    for i in range(3):
        await broadcast(county, f"长通知{i}")
        await send_all(county, wechat, sms, WeChatLimits(0))
    # 3 + 3 pieces: the window's five are spent after the second.
    assert [m.body for m in wechat.sent] == ["长通知0", "长通知1"]
    assert bodies(sms.sent) == ["长通知2"]
