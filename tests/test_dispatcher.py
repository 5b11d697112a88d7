"""The outbox and its dispatcher against a fake channel: failures, quiet hours, crashes."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.channels.base import Failure, SendError, SendResult
from bot.config import OutboxSection, RateSection
from bot.dispatcher import Dispatcher, quiet_until
from bot.messages import Address, AddressKind, Outbound
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, VILLAGER

ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class FakeChannel:
    """Records sends; fails as scripted: a Failure per address, or transiently at a rate."""

    kind: AddressKind = AddressKind.SMS
    channel: str = "sms"
    fail: dict[str, Failure] = field(default_factory=dict)
    transient_rate: float = 0.0
    delay: float = 0.0
    sent: list[Outbound] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: Outbound) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        failure = self.fail.get(message.to.value)
        if failure is None and self.rng.random() < self.transient_rate:
            failure = Failure.TRANSIENT
        if failure is not None:
            raise SendError(failure, "F1", f"scripted {failure}")
        self.sent.append(message)
        self.arrived.set()
        return SendResult(f"FAKE{len(self.sent)}", "sent", 1, "UCS-2")

    async def close(self) -> None:
        return None


def settings(quiet: str = "", concurrency: int = 8, max_attempts: int = 8) -> OutboxSection:
    return OutboxSection(
        quiet_hours=quiet,
        concurrency=concurrency,
        max_attempts=max_attempts,
        rate=RateSection(sms=10_000.0, telegram=10_000.0, console=10_000.0),
    )


def dispatcher(app: App, channel: FakeChannel, **kwargs: object) -> Dispatcher:
    return Dispatcher(app.repos, {channel.kind: channel}, app.clock, settings(**kwargs), ZONE)


async def broadcast_to_branch(
    app: App, roles=(Role.MEMBER, Role.SECRETARY, Role.PUBLIC), urgent: bool = False
) -> int:
    branch = await app.repos.orgs.by_code("HX0101")
    broadcast = await app.repos.outbox.create_broadcast(
        kind="broadcast", body="x", now=app.clock.now()
    )
    await app.repos.outbox.enqueue_audience(
        broadcast_id=broadcast,
        key_prefix=f"b:{broadcast}",
        root_org_id=branch.id,
        roles=roles,
        texts={"zh-CN": "开会通知", "en": "Meeting notice"},
        default_language="zh-CN",
        now=app.clock.now(),
        urgent=urgent,
    )
    return broadcast


async def drain(app: App, d: Dispatcher, rounds: int = 50) -> None:
    """Run the dispatcher until nothing is due, moving the clock past each backoff."""
    for _ in range(rounds):
        if await d.drain_once() == 0:
            if await app.repos.outbox.pending_count() == 0:
                return
            app.clock.advance(timedelta(hours=1))
    raise AssertionError("outbox did not drain")


async def test_enqueue_is_idempotent(county: App):
    first = await broadcast_to_branch(county)
    message = Outbound(Address(AddressKind.SMS, MEMBER), "x")
    assert await county.repos.outbox.enqueue("k", message, county.clock.now())
    assert not await county.repos.outbox.enqueue("k", message, county.clock.now())
    branch = await county.repos.orgs.by_code("HX0101")
    again = await county.repos.outbox.enqueue_audience(
        broadcast_id=first,
        key_prefix=f"b:{first}",
        root_org_id=branch.id,
        roles=[Role.MEMBER, Role.SECRETARY, Role.PUBLIC],
        texts={"zh-CN": "x", "en": "x"},
        default_language="zh-CN",
        now=county.clock.now(),
    )
    assert again == 4  # the same four people, not eight
    assert await county.repos.db.fetchval("SELECT COUNT(*) AS n FROM outbox") == 5


async def test_audience_follows_roles_subtree_preference_and_language(county: App):
    repos, now = county.repos, county.clock.now()
    west = await repos.orgs.by_code("HX0102")
    await repos.people.import_roster(
        [
            RosterEntry(
                west.id, "周海燕", Address(AddressKind.SMS, "+8613800002100"), Role.SECRETARY
            )
        ],
        now,
    )
    member = await repos.people.resolve(Address(AddressKind.SMS, MEMBER))
    await repos.db.write(  # the member also has Telegram, preferred over SMS
        "INSERT INTO addresses (person_id, kind, value, created_at) "
        "VALUES (:p, 'telegram', '5551234', :now)",
        {"p": member.person_id, "now": now},
    )
    await repos.people.set_language(member.person_id, "en")
    await repos.people.opt_out(Address(AddressKind.SMS, MEMBER_2), now)
    township = await repos.orgs.by_code("HX01")
    broadcast = await repos.outbox.create_broadcast(kind="broadcast", body="x", now=now)
    count = await repos.outbox.enqueue_audience(
        broadcast_id=broadcast,
        key_prefix="t",
        root_org_id=township.id,
        roles=[Role.MEMBER, Role.SECRETARY],
        texts={"zh-CN": "中文", "en": "English"},
        default_language="zh-CN",
        now=now,
    )
    rows = await repos.db.fetch("SELECT address_kind, address, body FROM outbox ORDER BY address")
    assert count == 3
    assert [(r["address_kind"], r["address"], r["body"]) for r in rows] == [
        ("sms", SECRETARY, "中文"),  # 东坡村's secretary
        ("sms", "+8613800002100", "中文"),  # 西岭村's, in the same township
        ("telegram", "5551234", "English"),  # the member, on Telegram, in English
    ]  # the opted-out member and the villager (not in the roles) are not there


async def test_every_message_gets_through_a_flaky_provider(county: App):
    broadcast = await broadcast_to_branch(county)
    channel = FakeChannel(transient_rate=0.3)
    await drain(county, dispatcher(county, channel, max_attempts=20))
    assert sorted(m.to.value for m in channel.sent) == sorted(
        [SECRETARY, MEMBER, MEMBER_2, VILLAGER]
    )
    status = await county.repos.outbox.broadcast_status(broadcast)
    assert status.counts == {"sent": 4} and status.reclaims == 0


async def test_permanent_failures_are_recorded_and_honoured(county: App):
    channel = FakeChannel(
        fail={
            MEMBER: Failure.OPTED_OUT,
            MEMBER_2: Failure.INVALID_ADDRESS,
            VILLAGER: Failure.REJECTED,
        }
    )
    broadcast = await broadcast_to_branch(county)
    await drain(county, dispatcher(county, channel))
    assert [m.to.value for m in channel.sent] == [SECRETARY]
    status = await county.repos.outbox.broadcast_status(broadcast)
    assert status.counts == {"sent": 1, "failed": 3}
    opted = await county.repos.people.resolve(Address(AddressKind.SMS, MEMBER))
    assert opted.opted_out_at is not None
    # The next broadcast leaves out the opted-out and the invalid address.
    second = await broadcast_to_branch(county)
    assert (await county.repos.outbox.broadcast_status(second)).total == 2


async def test_attempts_stop_at_the_limit(county: App):
    channel = FakeChannel(fail={MEMBER: Failure.TRANSIENT})
    await broadcast_to_branch(county, roles=[Role.MEMBER])
    await drain(county, dispatcher(county, channel, max_attempts=3))
    row = await county.repos.db.fetchrow(
        "SELECT status, attempts FROM outbox WHERE address = :a", {"a": MEMBER}
    )
    assert (row["status"], row["attempts"]) == ("failed", 3)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-26 20:59", None),
        ("2026-11-26 21:00", "2026-11-27 08:00"),
        ("2026-11-26 23:30", "2026-11-27 08:00"),
        ("2026-11-27 03:00", "2026-11-27 08:00"),
        ("2026-11-27 08:00", None),
        ("2026-11-27 12:00", None),
    ],
)
def test_quiet_hours_across_midnight(local, expected):
    now = datetime.fromisoformat(local).replace(tzinfo=ZONE)
    until = quiet_until(
        now,
        (datetime.strptime("21:00", "%H:%M").time(), datetime.strptime("08:00", "%H:%M").time()),
        ZONE,
    )
    assert until == (datetime.fromisoformat(expected).replace(tzinfo=ZONE) if expected else None)


async def test_sms_waits_for_morning_unless_urgent(county: App):
    county.clock.set(datetime(2026, 11, 26, 22, 30, tzinfo=ZONE))
    channel = FakeChannel()
    d = dispatcher(county, channel, quiet="21:00-08:00")
    await broadcast_to_branch(county, roles=[Role.MEMBER])
    urgent = await broadcast_to_branch(county, roles=[Role.SECRETARY], urgent=True)
    await d.drain_once()
    assert [m.to.value for m in channel.sent] == [SECRETARY]  # only the urgent one
    assert (await county.repos.outbox.broadcast_status(urgent)).counts == {"sent": 1}
    waiting = await county.repos.db.fetch(
        "SELECT not_before, attempts FROM outbox WHERE status = 'pending'"
    )
    assert len(waiting) == 2 and all(r["attempts"] == 0 for r in waiting)
    assert await d.drain_once() == 0  # nothing due before 08:00
    county.clock.set(datetime(2026, 11, 27, 8, 0, tzinfo=ZONE))
    await d.drain_once()
    assert len(channel.sent) == 3


async def test_a_dead_dispatchers_claims_are_taken_back_and_counted(county: App):
    broadcast = await broadcast_to_branch(county)
    now = county.clock.now()
    lease = settings().lease
    dead = await county.repos.outbox.claim(holder="dead", now=now, lease_until=now + lease, limit=2)
    assert len(dead) == 2  # claimed, then the process was killed before sending
    channel = FakeChannel()
    survivor = dispatcher(county, channel)
    await survivor.drain_once()
    assert len(channel.sent) == 2  # the unclaimed ones; the dead claims are still leased
    county.clock.advance(lease + timedelta(seconds=1))
    await survivor.drain_once()
    assert sorted(m.to.value for m in channel.sent) == sorted(
        [SECRETARY, MEMBER, MEMBER_2, VILLAGER]
    )
    status = await county.repos.outbox.broadcast_status(broadcast)
    assert (status.counts, status.reclaims) == ({"sent": 4}, 2)


async def test_stopping_finishes_sends_under_way_and_gives_the_rest_back(county: App):
    await broadcast_to_branch(county)
    channel = FakeChannel(delay=0.2)
    d = dispatcher(county, channel, concurrency=1)
    stop = asyncio.Event()
    running = asyncio.create_task(d.run(stop))
    async with asyncio.timeout(10):
        await channel.arrived.wait()  # the first send is done, the second under way
    stop.set()
    await running
    statuses = Counter(
        r["status"] for r in await county.repos.db.fetch("SELECT status FROM outbox")
    )
    assert statuses["sending"] == 0  # nothing left claimed by a stopped dispatcher
    assert statuses["sent"] == len(channel.sent) == 2  # the one under way was finished
    assert statuses["pending"] == 2  # the rest were given back, not sent


async def test_a_message_to_someone_who_opted_out_after_queueing_is_not_sent(county: App):
    await broadcast_to_branch(county, roles=[Role.MEMBER])
    await county.repos.people.opt_out(Address(AddressKind.SMS, MEMBER), county.clock.now())
    channel = FakeChannel()
    await drain(county, dispatcher(county, channel))
    assert [m.to.value for m in channel.sent] == [MEMBER_2]


async def test_timestamps_compare_as_instants(county: App):
    """not_before written in another offset must still be due at the same instant."""
    later = datetime(2026, 11, 26, 12, 0, tzinfo=ZONE)  # 04:00 UTC
    await county.repos.outbox.enqueue(
        "k", Outbound(Address(AddressKind.SMS, MEMBER), "x"), county.clock.now(), later
    )
    claim = county.repos.outbox.claim
    assert (
        await claim(
            holder="h", now=datetime(2026, 11, 26, 3, 59, tzinfo=UTC), lease_until=later, limit=5
        )
        == []
    )
    assert (
        len(
            await claim(
                holder="h", now=datetime(2026, 11, 26, 4, 0, tzinfo=UTC), lease_until=later, limit=5
            )
        )
        == 1
    )


async def test_a_live_dispatcher_stops_sending_before_its_lease_runs_out(county: App):
    """A slow send eats the lease: the claims left are given back, not sent late, so a
    dispatcher taking them over after the lease cannot send them a second time."""
    await broadcast_to_branch(county)
    lease = settings().lease

    class SlowChannel(FakeChannel):
        async def send(self, message: Outbound) -> SendResult:
            county.clock.advance(lease * 0.4)  # each send takes 40% of the lease
            return await super().send(message)

    channel = SlowChannel()
    d = dispatcher(county, channel, concurrency=1)
    assert await d.drain_once() == 4
    assert len(channel.sent) == 2  # at 80% of the lease the third is not started
    statuses = Counter(
        r["status"] for r in await county.repos.db.fetch("SELECT status FROM outbox")
    )
    assert statuses == {"sent": 2, "pending": 2}
    await drain(county, d)
    assert len(channel.sent) == 4 and len({m.to.value for m in channel.sent}) == 4
