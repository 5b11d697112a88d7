"""The hot path: the statements a message costs, the unit its writes commit in, and the
short cache of open polls that `cast` must not be fooled by."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from bot.app import App
from bot.messages import Address, AddressKind, Channel, Inbound
from storage.engine import Database
from storage.models import Role
from storage.repositories import Repositories
from tests.conftest import MEMBER, VILLAGER, Phone
from tests.test_polls import add_person, opened_by_secretary, tally

VILLAGER_2 = "+8613900001102"
# Statements per message, one at a time with the open polls cached (bench/roundtrips.py
# prints them). Before the hot path was cut: on PostgreSQL 6 and 12 statements, each run
# outside a transaction followed by asyncpg's reset query (12 and 18 round trips).
MOST = {
    "sqlite": {"report": 9, "answer": 13},
    "postgresql": {"report": 7, "answer": 6},
}


async def spent(db: Database, phone: Phone, body: str) -> tuple[list[str], int]:
    before = Counter(db.round_trips)
    replies = await phone.says(body)
    return replies, sum((db.round_trips - before).values())


async def test_a_report_and_a_poll_answer_cost_few_statements(county: App):
    db = county.repos.db
    await add_person(county, "HX0101", "钱大妈", VILLAGER_2, Role.PUBLIC)
    poll = await opened_by_secretary(county)
    [thanks] = await Phone(county, VILLAGER).says("1")  # reads the open polls (cached after)
    assert thanks.startswith("已记录")
    [thanks], answer = await spent(db, Phone(county, VILLAGER_2), "2")
    assert thanks.startswith("已记录"), thanks
    [recorded], report = await spent(db, Phone(county, MEMBER), "汇报 #服务 帮邻居修好了水渠")
    assert recorded.startswith("已记录"), recorded
    most = MOST[db.dialect]
    assert report <= most["report"] and answer <= most["answer"], (report, answer)
    assert list((await tally(county, poll)).counts) == [1, 1, 0]


async def test_the_record_reads_the_sender_and_a_repeat_is_reported(county: App):
    inbound = Inbound(
        Channel.SMS,
        uuid.uuid4().hex,
        Address(AddressKind.SMS, MEMBER),
        "汇报 #学习 读了一本书",
        county.clock.now(),
    )
    first = await county.router.accept(inbound)
    assert first.is_new and first.sender is not None
    assert first.sender.name == "李秀英"
    assert [(g.role, g.org_code) for g in first.sender.grants] == [(Role.MEMBER, "HX0101")]
    await county.router.respond(first, inbound)
    again = await county.router.accept(inbound)
    assert (again.id, again.is_new, again.status) == (first.id, False, "handled")
    stranger = await county.router.accept(
        Inbound(
            Channel.SMS,
            uuid.uuid4().hex,
            Address(AddressKind.SMS, "+8613700009999"),
            "你好",
            county.clock.now(),
        )
    )
    assert stranger.is_new and stranger.sender is not None
    assert stranger.sender.address_id is None and stranger.sender.grants == ()


async def test_an_answer_to_a_poll_closed_meanwhile_is_not_counted(county: App):
    """The open polls a voter reaches are cached for a few seconds; another worker may
    close the poll in that time. The ballot's own statement sees it closed."""
    await add_person(county, "HX0101", "钱大妈", VILLAGER_2, Role.PUBLIC)
    poll = await opened_by_secretary(county)
    await Phone(county, VILLAGER).says("1")  # the open polls are now cached here
    await county.repos.db.write(  # closed by another process: this one's cache is stale
        "UPDATE polls SET status = 'closed' WHERE id = :id", {"id": poll.id}
    )
    [late] = await Phone(county, VILLAGER_2).says("2")
    assert late.startswith(f"评议{poll.code}已于"), late
    assert list((await tally(county, poll)).counts) == [1, 0, 0]
    bodies = await county.repos.db.fetch(
        "SELECT body, handler FROM inbound_messages WHERE sender = :s", {"s": VILLAGER_2}
    )
    assert [dict(r) for r in bodies] == [{"body": f"[{poll.code}]", "handler": "poll.answer"}]


async def rows(db: Database) -> list[int]:
    return sorted(r["n"] for r in await db.fetch("SELECT n FROM hot_unit"))


async def test_a_unit_commits_together_and_its_blocks_roll_back_alone(repos: Repositories):
    db = repos.db
    await db.write("CREATE TABLE hot_unit (n INTEGER)")
    insert = "INSERT INTO hot_unit (n) VALUES (:n)"
    # A failing first block (the unit's own transaction on PostgreSQL) takes only itself.
    async with db.unit():
        with pytest.raises(KeyError):
            async with db.transaction() as tx:
                await tx.execute(insert, {"n": 1})
                raise KeyError("refused")
        await db.write(insert, {"n": 2})
        # A later block is a savepoint: it fails alone, the write before it stands.
        with pytest.raises(KeyError):
            async with db.transaction() as tx:
                await tx.execute(insert, {"n": 3})
                raise KeyError("refused")
        async with db.transaction() as tx:
            await tx.execute(insert, {"n": 4})
        assert await rows(db) == [2, 4]  # a unit reads its own writes
    assert await rows(db) == [2, 4]


async def test_a_failing_unit_leaves_nothing_on_postgresql(repos: Repositories):
    db = repos.db
    if db.dialect != "postgresql":
        pytest.skip("on SQLite a unit is the engine's group commit: writes stand alone")
    await db.write("CREATE TABLE hot_unit (n INTEGER)")
    with pytest.raises(RuntimeError):
        async with db.unit():
            await db.write("INSERT INTO hot_unit (n) VALUES (1)")
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO hot_unit (n) VALUES (2)")
            raise RuntimeError("the handler failed")
    assert await rows(db) == []
    before = Counter(db.round_trips)
    async with db.unit():  # reads only: no transaction at all
        await db.fetch("SELECT n FROM hot_unit")
    assert db.round_trips - before == Counter({"SELECT": 1})


async def test_a_message_cut_off_before_its_finish_is_handled_once_on_recovery(
    county: App, monkeypatch: pytest.MonkeyPatch
):
    """The process dies after the handler's writes but before the message is marked
    handled. On PostgreSQL the writes and the finish were one transaction: nothing of it
    stands, and recovery handles the message once. (On SQLite group commit keeps the
    deed, and recovery would store it a second time: a known limit of the embedded
    engine, where a crash between the two commits is rarer than a lost webhook.)"""
    if county.repos.db.dialect != "postgresql":
        pytest.skip("on SQLite the handler's writes and the finish are separate commits")
    repo = county.repos.inbound

    async def died(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")  # not an Exception: nothing after it runs, as in a crash

    monkeypatch.setattr(repo, "finish", died)
    with pytest.raises(SystemExit):
        await Phone(county, MEMBER).says("汇报 #服务 帮邻居修好了水渠")
    monkeypatch.undo()
    db = county.repos.db
    assert await db.fetchval("SELECT COUNT(*) FROM deeds") == 0
    assert await db.fetchval("SELECT status FROM inbound_messages") == "received"
    assert await county.router.recover() == 1
    assert await db.fetchval("SELECT COUNT(*) FROM deeds") == 1
    assert await db.fetchval("SELECT status FROM inbound_messages") == "handled"
    [queued] = await db.fetch("SELECT idempotency_key FROM outbox")
    assert queued["idempotency_key"].startswith("reply:")
