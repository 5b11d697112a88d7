"""Notices as secretaries send them (issue 11, point 8): at night the sender learns when
SMS will arrive and how to send now (通知 急 / 紧急通知); a long notice shows its cost and
waits for 确认; a broadcast from the CLI is signed with the organisation's name."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import App
from bot.channel_health import ChannelHealth
from bot.channels.console import ConsoleSender
from bot.messages import AddressKind
from tests.conftest import MEMBER, SECRETARY, VILLAGER

ZONE = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 26, 22, 17, tzinfo=ZONE)
QUEUED_AT_NIGHT = (
    "通知已排队，发给3人，每人1条短信。现为夜间免打扰，短信明天08:00送达；"
    "急事请发“通知 急 内容”。编号1。"
)
URGENT = "紧急通知已排队：发给3人，每人1条短信，夜间也立即发出。编号1。"
# Over two SMS segments once signed 【东坡村党支部】: 140 characters of notice.
LONG = "明天上午七点全体党员到村部集合，参加村道硬化义务劳动，请自带铁锹和手套，" * 4


async def outbox_rows(app: App) -> list[dict]:
    return await app.repos.db.fetch(
        "SELECT address, body, urgent, status FROM outbox ORDER BY address"
    )


async def test_a_notice_at_night_says_when_it_arrives_and_how_to_send_it_now(phone, county: App):
    county.clock.set(NIGHT)
    assert await phone(SECRETARY).says("通知 明早七点全体党员到村部修路") == [QUEUED_AT_NIGHT]
    rows = await outbox_rows(county)
    assert {r["address"] for r in rows} == {MEMBER, "+8613800001102", VILLAGER}
    assert all(not r["urgent"] for r in rows)


async def test_a_notice_in_the_day_is_queued_as_before(phone, county: App):
    assert await phone(SECRETARY).says("通知 周五晚七点开党员大会") == [
        "通知已排队：发给3人，每人1条短信。编号1。"
    ]


async def test_an_urgent_notice_goes_out_at_night(phone, county: App):
    county.clock.set(NIGHT)
    assert await phone(SECRETARY).says("通知 急 明早七点停水，请提前储水") == [URGENT]
    rows = await outbox_rows(county)
    assert len(rows) == 3 and all(r["urgent"] for r in rows)
    assert rows[0]["body"] == "【东坡村党支部】明早七点停水，请提前储水"
    # The dispatcher sends it now, quiet hours or not.
    sender = ConsoleSender(stream=io.StringIO())
    county.senders[AddressKind.SMS] = sender
    county.health[sender.channel] = ChannelHealth(sender.channel)
    await county.dispatcher().drain_once()
    assert {r["status"] for r in await outbox_rows(county)} == {"sent"}


async def test_urgent_notice_keywords(phone, county: App):
    county.clock.set(NIGHT)
    assert await phone(SECRETARY).says("紧急通知 今晚有大风，请收好晾晒的粮食") == [URGENT]
    [reply] = await phone(SECRETARY).says("通知 紧急：明早停电")
    assert reply.startswith("紧急通知已排队")


async def test_urgent_needs_a_separator_after_it(phone, county: App):
    county.clock.set(NIGHT)
    assert await phone(SECRETARY).says("通知 急需两名志愿者明早帮忙") == [QUEUED_AT_NIGHT]
    rows = await outbox_rows(county)
    assert rows[0]["body"] == "【东坡村党支部】急需两名志愿者明早帮忙"


async def test_a_long_notice_shows_its_cost_and_waits_for_confirmation(phone, county: App):
    secretary = phone(SECRETARY)
    assert await secretary.says(f"通知 {LONG}") == [
        "通知较长：每人3条短信，发短信3人共9条。回复“确认”发出，“取消”作废。"
    ]
    assert await outbox_rows(county) == []  # nothing queued before 确认
    assert await secretary.says("确认") == ["通知已排队：发给3人，每人3条短信。编号1。"]
    rows = await outbox_rows(county)
    assert len(rows) == 3 and rows[0]["body"] == f"【东坡村党支部】{LONG}"


async def test_a_long_notice_can_be_cancelled(phone, county: App):
    secretary = phone(SECRETARY)
    [preview] = await secretary.says(f"通知 {LONG}")
    assert preview.startswith("通知较长")
    assert await secretary.says("取消") == ["通知已取消，未发出。"]
    assert await outbox_rows(county) == []


async def test_a_long_urgent_notice_at_night_is_confirmed_then_sent_at_once(phone, county: App):
    county.clock.set(NIGHT)
    secretary = phone(SECRETARY)
    [preview] = await secretary.says(f"紧急通知 {LONG}")
    assert preview.startswith("通知较长：每人3条短信")
    [sent] = await secretary.says("确认")
    assert sent == "紧急通知已排队：发给3人，每人3条短信，夜间也立即发出。编号1。"


def test_a_broadcast_from_the_cli_is_signed_with_the_organisation(tmp_path):
    from tests.test_cli import grassroots

    assert grassroots(tmp_path, "demo").returncode == 0
    result = grassroots(
        tmp_path, "broadcast", "send", "--org", "HX0101", "--role", "public", "--text", "明早停水"
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "x.db") as db:
        bodies = {row[0] for row in db.execute("SELECT body FROM outbox")}
    assert bodies == {"【东坡村党支部】明早停水"}


async def test_english_notices_at_night(phone, county: App):
    county.clock.set(NIGHT)
    assert await phone(SECRETARY).says("NOTICE meeting moved to 9 am") == [
        "Notice queued for 3 people, 1 SMS each. SMS quiet hours: texts arrive tomorrow at "
        "08:00; for urgent news send NOTICE URGENT and the text. Number 1."
    ]
    assert await phone(SECRETARY).says("NOTICE URGENT water is off until noon") == [
        "Urgent notice queued for 3 people, 1 SMS each; sent at once, even at night. Number 2."
    ]
