"""Monthly partitions of the message log and the outbox on PostgreSQL (issue 15, "Data
that grows"): months made ahead, ids that find their partition, keys unique across
partitions, a late month collecting its strays, and an existing database upgraded in place."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from scheduler import storage_jobs
from scheduler.jobs import JobContext
from storage import partitions, retention
from storage.engine import Database, open_database
from storage.migrate import upgrade
from storage.repositories import Repositories, open_repositories

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

NOW = datetime.now(UTC)
MONTH = partitions.month_of(NOW)
SENDER = Address(AddressKind.SMS, "+8613800001101")


def message(provider_id: str | None = None, body: str = "汇报 修路") -> Inbound:
    return Inbound(Channel.SMS, provider_id or uuid.uuid4().hex, SENDER, body, NOW)


async def partition_of(db: Database, table: str, row_id: int) -> str:
    return str(
        await db.fetchval(f"SELECT tableoid::regclass::text AS p FROM {table} WHERE id = {row_id}")
    )


async def test_ids_carry_their_month_and_keys_stay_unique(repos: Repositories) -> None:
    db = repos.db
    for table in ("inbound_messages", "outbox"):
        for step in range(partitions.AHEAD + 1):
            name = partitions.partition_name(table, partitions.add_months(MONTH, step))
            assert await partitions.exists(db, name)
        assert await partitions.exists(db, f"{table}_default")

    first = await repos.inbound.record(message("SM-1"))
    assert first.is_new and partitions.month_of_id(first.id) == MONTH
    assert await partition_of(db, "inbound_messages", first.id) == partitions.partition_name(
        "inbound_messages", MONTH
    )
    # A provider's retry, however many at once, is recorded once.
    retries = await asyncio.gather(*(repos.inbound.record(message("SM-1")) for _ in range(8)))
    assert {(r.id, r.is_new) for r in retries} == {(first.id, False)}
    assert await repos.inbound.count() == 1

    # Finishing a message (WHERE id = :id) reaches its own partition only.
    plan = await db.fetch(
        f"EXPLAIN UPDATE inbound_messages SET status = 'handled' WHERE id = {first.id}"
    )
    scanned = " ".join(str(r["QUERY PLAN"]) for r in plan)
    assert partitions.partition_name("inbound_messages", MONTH) in scanned
    assert "_legacy" not in scanned and "_default" not in scanned

    note = Outbound(SENDER, "周五开会")
    assert await repos.outbox.enqueue("meeting:1", note, NOW)
    assert not await repos.outbox.enqueue("meeting:1", note, NOW)
    assert await db.fetchval("SELECT COUNT(*) AS n FROM outbox") == 1


async def test_a_month_made_late_collects_what_the_default_caught(repos: Repositories) -> None:
    db = repos.db
    late = partitions.add_months(MONTH, 6)
    stray = partitions.first_id(late) + 7
    await db.write(
        "INSERT INTO inbound_messages (id, channel, provider_id, sender_kind, sender, body, "
        "received_at) VALUES (:id, 'sms', 'SM-stray', 'sms', '+8613800001101', 'x', :now)",
        {"id": stray, "now": NOW},
    )
    assert await partition_of(db, "inbound_messages", stray) == "inbound_messages_default"

    ctx = JobContext(repos, NOW.tzinfo, "zh-CN")  # type: ignore[arg-type]
    moment = datetime(late.year, late.month, 2, tzinfo=UTC)
    assert await storage_jobs.upkeep(ctx, moment)
    for step in range(partitions.AHEAD + 1):
        month = partitions.add_months(late, step)
        assert await partitions.exists(db, partitions.partition_name("outbox", month))
    assert await partition_of(db, "inbound_messages", stray) == partitions.partition_name(
        "inbound_messages", late
    )
    assert await db.fetchval("SELECT COUNT(*) AS n FROM inbound_messages_default") == 0
    assert not (await repos.inbound.record(message("SM-stray"))).is_new  # its key held


async def test_an_existing_database_is_partitioned_in_place(db_url: str) -> None:
    await upgrade(db_url, "0019")
    db = await open_database(db_url)
    try:
        for sql in (
            "INSERT INTO organisations (code, name, kind, created_at) "
            "VALUES ('HX', '和兴县委', 'county', now())",
            "INSERT INTO people (name, created_at) VALUES ('李秀英', now())",
            "INSERT INTO inbound_messages (channel, provider_id, sender_kind, sender, body, "
            "received_at, status, person_id) "
            "VALUES ('sms', 'SM-old', 'sms', '+8613800001101', '汇报 修路', :old, 'handled', 1)",
            "INSERT INTO deeds (person_id, org_id, inbound_id, body, local_day, created_at) "
            "VALUES (1, 1, 1, '修路', '2025-01-02', now())",
            "INSERT INTO outbox (idempotency_key, address_kind, address, body, not_before, "
            "created_at, updated_at, status) "
            "VALUES ('meeting:0', 'sms', '+8613800001101', '开会', :old, :old, :old, 'sent')",
        ):
            await db.write(
                sql, {"old": datetime(2025, 1, 2, tzinfo=UTC)} if ":old" in sql else None
            )
    finally:
        await db.close()

    repos = await open_repositories(db_url)  # upgrades to head
    try:
        db = repos.db
        assert await partition_of(db, "inbound_messages", 1) == "inbound_messages_legacy"
        assert not (await repos.inbound.record(message("SM-old"))).is_new
        assert not await repos.outbox.enqueue("meeting:0", Outbound(SENDER, "开会"), NOW)
        new = await repos.inbound.record(message("SM-new"))
        assert new.is_new and new.id > 1 and partitions.month_of_id(new.id) == MONTH
        assert await db.fetchval("SELECT inbound_id FROM deeds") == 1

        # Retention empties the legacy partition like any table: counted, links cleared.
        done = await retention.prune(db, NOW, timedelta(days=400))
        assert done.rows == {"inbound_messages": 1, "outbox": 1}
        assert await db.fetchval("SELECT inbound_id FROM deeds") is None
        assert await db.fetchval("SELECT body FROM deeds") == "修路"
        assert "inbound_messages_legacy" in done.partitions  # emptied, so dropped
        assert not await partitions.exists(db, "inbound_messages_legacy")
        assert await repos.inbound.count() == 1
    finally:
        await repos.db.close()


async def test_downgrade_and_upgrade_again_keep_every_message(db_url: str) -> None:
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.engine import split_search_path
    from storage.migrate import alembic_config

    repos = await open_repositories(db_url)
    first = await repos.inbound.record(message("SM-1"))
    await repos.db.close()
    plain, schema = split_search_path(db_url)
    engine = create_async_engine(plain, connect_args={"server_settings": {"search_path": schema}})
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0019"))
    finally:
        await engine.dispose()

    repos = await open_repositories(db_url)  # partitioned again, around the ids made before
    try:
        assert not (await repos.inbound.record(message("SM-1"))).is_new
        assert await repos.inbound.count() == 1
        assert await partitions.ensure_ahead(repos.db, NOW) == []  # no month inside legacy
        second = await repos.inbound.record(message("SM-2"))
        assert second.is_new and second.id > first.id
    finally:
        await repos.db.close()
