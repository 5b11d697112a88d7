"""12.3: whatever the poll interceptor claims leaves the message log as a counted answer
does (body replaced by the poll's marker, attachments dropped), counted or not: the "which
poll?" reply, an unmatched answer, a late answer, a locked change, a code for a poll the
sender is not asked. The reply the log keeps does not repeat the answer either."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.app import App
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound
from storage.models import Role
from tests.conftest import VILLAGER, Phone
from tests.test_poll_privacy import everywhere
from tests.test_polls import (
    ROAD,
    WEST_VILLAGER,
    add_person,
    advance,
    opened_by_secretary,
    org_id,
    sweep,
)

WELL = "评议 您对新打的水井满意吗？"
COMMENT = "太差了，村干部不管"


async def says(app: App, number: str, text: str, photo: bool = False) -> tuple[int, list[str]]:
    """Send one SMS; the id of its row in the log and the replies."""
    attachments = (Attachment("https://example.invalid/p.jpg", "image/jpeg"),) if photo else ()
    inbound = Inbound(
        Channel.SMS,
        uuid.uuid4().hex,
        Address(AddressKind.SMS, number),
        text,
        app.clock.now(),
        attachments=attachments,
    )
    replies = await app.router.handle(inbound)
    message_id = await app.repos.db.fetchval("SELECT MAX(id) FROM inbound_messages")
    return message_id, [r.body for r in replies]


async def assert_redacted(app: App, message_id: int, sent: str, marker: str) -> None:
    row = await app.repos.db.fetchrow(
        "SELECT body, attachments, reply, sender FROM inbound_messages WHERE id = :id",
        {"id": message_id},
    )
    assert row is not None
    assert row["sender"] == VILLAGER  # the sender stays: the body is what goes
    assert (row["body"], row["attachments"]) == (marker, None)
    assert COMMENT not in (row["reply"] or "")
    # Nowhere in the database: neither as sent nor the comment alone.
    assert await everywhere(app.repos.db, sent) == set()
    assert await everywhere(app.repos.db, COMMENT) == set()


async def test_the_which_poll_reply_leaves_no_answer_in_the_log(county: App):
    await opened_by_secretary(county, ROAD)
    await opened_by_secretary(county, WELL)
    sent = f"2 {COMMENT}"
    message_id, [which] = await says(county, VILLAGER, sent, photo=True)
    assert which.startswith("您有2个评议在进行"), which
    await assert_redacted(county, message_id, sent, "[P1 P2]")


async def test_an_unmatched_answer_leaves_no_answer_in_the_log(county: App):
    await opened_by_secretary(county, ROAD)
    sent = f"7 {COMMENT}"  # no option 7
    message_id, [again] = await says(county, VILLAGER, sent, photo=True)
    assert again.startswith("没看懂您的回答。"), again
    await assert_redacted(county, message_id, sent, "[P1]")


async def test_a_late_answer_leaves_no_answer_in_the_log(county: App):
    await opened_by_secretary(county, ROAD)
    advance(county, timedelta(days=7, minutes=1))
    await sweep(county)
    for sent in (f"2 {COMMENT}", f"P1 2 {COMMENT}"):
        message_id, [closed] = await says(county, VILLAGER, sent)
        assert closed.startswith("评议P1已于"), closed
        await assert_redacted(county, message_id, sent, "[P1]")


async def test_a_late_answer_before_the_sweep_leaves_no_answer_in_the_log(county: App):
    await opened_by_secretary(county, ROAD)
    advance(county, timedelta(days=7, minutes=1))  # past closing; no sweep has run
    sent = f"2 {COMMENT}"
    message_id, [closed] = await says(county, VILLAGER, sent)
    assert closed.startswith("评议P1已于"), closed
    await assert_redacted(county, message_id, sent, "[P1]")


async def test_a_locked_change_leaves_no_answer_in_the_log(county: App):
    now = county.clock.now()
    await county.repos.polls.create(
        org_id=await org_id(county, "HX0101"),
        question="村委会选举投票点设在村小学可以吗？",
        options=["可以", "不可以"],
        audience="public",
        opens_at=now,
        closes_at=now + timedelta(days=3),
        status="scheduled",
        allow_change=False,
        now=now,
    )
    await sweep(county)
    assert (await Phone(county, VILLAGER).says("1"))[0].startswith("已记录：")
    for sent in (f"2 {COMMENT}", f"P1 2 {COMMENT}"):
        message_id, [locked] = await says(county, VILLAGER, sent, photo=True)
        assert locked == "您已评议过P1，本次评议不能更改答案。"
        await assert_redacted(county, message_id, sent, "[P1]")


async def test_an_answer_to_a_poll_not_asked_of_the_sender_leaves_no_answer_in_the_log(
    county: App,
):
    await add_person(county, "HX0102", "周大娘", WEST_VILLAGER, Role.PUBLIC)
    await opened_by_secretary(county, ROAD)  # 东坡村's villagers; 周大娘 is of 西岭村
    sent = f"P1 2 {COMMENT}"
    inbound_id, [refused] = await says(county, WEST_VILLAGER, sent)
    assert refused.startswith("评议P1面向东坡村"), refused
    row = await county.repos.db.fetchrow(
        "SELECT body FROM inbound_messages WHERE id = :id", {"id": inbound_id}
    )
    assert row is not None and row["body"] == "[P1]"
    assert await everywhere(county.repos.db, COMMENT) == set()
