"""Finding 12.4: a villager who answered from an unlinked Telegram chat, then shared their
contact (linking merges the two people), could answer again: the ballot stayed keyed to the
old person. Linking merges ballots (the later answer counts once) and participation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bot.app import App
from bot.messages import Address, AddressKind, Channel, Inbound
from tests.conftest import VILLAGER, Phone
from tests.test_polls import advance, opened_by_secretary, over_telegram, sweep

CHAT = "5550777"  # 赵大爷's Telegram, not yet linked to his phone


async def joins_on_telegram(app: App) -> None:
    """He joins his village as a villager from his Telegram chat (one more person)."""
    replies = await over_telegram(app, CHAT, "加入 HX0101")
    assert "东坡村" in replies[0], replies


async def share_contact(app: App, chat: str, phone: str) -> list[str]:
    inbound = Inbound(
        Channel.TELEGRAM,
        uuid.uuid4().hex,
        Address(AddressKind.TELEGRAM, chat),
        "",
        app.clock.now(),
        contact=phone,
    )
    return [reply.body for reply in await app.router.handle(inbound)]


async def test_answer_on_telegram_then_link_then_sms_counts_once(county: App):
    await joins_on_telegram(county)
    poll = await opened_by_secretary(county)
    first = await over_telegram(county, CHAT, f"{poll.code} 1")
    assert first[0].startswith("已记录："), first
    assert (await share_contact(county, CHAT, VILLAGER))[0]
    # The same man, now one person, answers again by SMS: a change, not a second ballot.
    again = await Phone(county, VILLAGER).says("3")
    assert again[0].startswith("已改为："), again
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants, tally.counts) == (1, 1, (0, 0, 1))
    advance(county, timedelta(days=8))
    await sweep(county)
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants, tally.counts) == (1, 1, (0, 0, 1))


async def test_answers_on_both_then_link_keeps_the_later(county: App):
    await joins_on_telegram(county)
    poll = await opened_by_secretary(county)
    assert (await Phone(county, VILLAGER).says("1"))[0].startswith("已记录：")
    county.clock.advance(timedelta(minutes=5))
    assert (await over_telegram(county, CHAT, f"{poll.code} 2"))[0].startswith("已记录：")
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants) == (2, 2)  # two people, as far as anyone knew
    await share_contact(county, CHAT, VILLAGER)
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants, tally.counts) == (1, 1, (0, 1, 0))


async def test_a_link_after_closing_time_but_before_the_sweep_still_merges(county: App):
    await joins_on_telegram(county)
    poll = await opened_by_secretary(county)
    assert (await Phone(county, VILLAGER).says("1"))[0].startswith("已记录：")
    assert (await over_telegram(county, CHAT, f"{poll.code} 2"))[0].startswith("已记录：")
    advance(county, timedelta(days=8))  # closed by the clock; the sweep has not run yet
    await share_contact(county, CHAT, VILLAGER)
    await sweep(county)
    tally = await county.repos.polls.tally(poll)
    assert (tally.total, tally.participants, tally.counts) == (1, 1, (0, 1, 0))
