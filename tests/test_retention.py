"""Retention (issue 15, "Data that grows"): texts of old messages go first, whole months
past `keep_messages` go next, counted; unfinished messages and campaign records stay.

The clock is set inside the current month of the real calendar, because on PostgreSQL a
row's id carries the month the database inserted it in (storage/partitions.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FixedClock
from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from scheduler import storage_jobs
from scheduler.jobs import JobContext
from storage import partitions, retention
from tests.conftest import MEMBER, VILLAGER, Phone
from tests.test_cli import grassroots
from tests.test_cli_ops import EN, env_for

MONTH = partitions.month_of(datetime.now(UTC))
T0 = datetime(MONTH.year, MONTH.month, MONTH.day, 2, 0, tzinfo=UTC) + timedelta(days=1)
NEXT_MONTH = partitions.add_months(MONTH, 1)
LATER = datetime(NEXT_MONTH.year, NEXT_MONTH.month, 3, tzinfo=UTC)  # month M wholly past
KEEP = timedelta(days=1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


async def rows(app: App, sql: str) -> list[dict[str, object]]:
    return [dict(r) for r in await app.repos.db.fetch(sql)]


async def a_month_of_messages(county: App) -> dict[str, int]:
    """A deed reported by SMS, a villager's message, one message never handled (the process
    stopped), one outbox message sent and one still waiting. Returns their ids."""
    member = Phone(county, MEMBER)
    await member.says("汇报 今天帮五保户修了屋顶")
    await Phone(county, VILLAGER).says("村口的路灯坏了")
    stuck = Inbound(Channel.SMS, uuid.uuid4().hex, Address(AddressKind.SMS, VILLAGER), "还在吗", T0)
    recorded = await county.repos.inbound.record(stuck)
    to = Address(AddressKind.SMS, MEMBER)
    outbox = county.repos.outbox
    broadcast = await outbox.create_broadcast(kind="broadcast", body="已发送的通知", now=T0)
    await outbox.enqueue("retention:sent", Outbound(to, "已发送的通知"), T0, broadcast_id=broadcast)
    await outbox.enqueue("retention:waiting", Outbound(to, "还在等的通知"), T0)
    ids = {r["idempotency_key"]: int(r["id"]) for r in await rows(county, "SELECT * FROM outbox")}
    await outbox.mark_sent(
        ids["retention:sent"],
        provider_id="SM1",
        channel_status="sent",
        segments=1,
        encoding="UCS-2",
        now=T0,
    )
    deed = await rows(county, "SELECT id, inbound_id FROM deeds")
    assert len(deed) == 1 and deed[0]["inbound_id"] is not None
    return {
        "stuck": recorded.id,
        "deed_message": int(str(deed[0]["inbound_id"])),
        "sent": ids["retention:sent"],
        "waiting": ids["retention:waiting"],
        "broadcast": broadcast,
    }


async def test_texts_go_first_rows_go_by_month_counted(county: App) -> None:
    ids = await a_month_of_messages(county)
    inbound_before = await county.repos.inbound.count()

    # Two days on: past retention, same month. Texts of finished messages go, rows stay.
    done = await retention.prune(county.repos.db, T0 + timedelta(days=2), KEEP)
    assert done.texts == {"inbound_messages": inbound_before - 1, "outbox": 1}
    assert done.rows == {"inbound_messages": 0, "outbox": 0}
    log = {r["id"]: r for r in await rows(county, "SELECT * FROM inbound_messages")}
    assert len(log) == inbound_before
    assert log[ids["deed_message"]]["body"] == "" and log[ids["deed_message"]]["reply"] is None
    assert county.repos.inbound.open_body(str(log[ids["stuck"]]["body"])) == "还在吗"
    sent = await county.repos.outbox.get(ids["sent"])
    waiting = await county.repos.outbox.get(ids["waiting"])
    assert sent is not None and sent["body"] == "" and sent["status"] == "sent"
    assert waiting is not None and waiting["body"] == "还在等的通知"
    again = await retention.prune(county.repos.db, T0 + timedelta(days=2), KEEP)
    assert again.texts == {"inbound_messages": 0, "outbox": 0}

    # The month wholly past retention: finished rows are counted and go; the unfinished
    # stay (a partition holding them is not dropped), and so does the deed.
    done = await retention.prune(county.repos.db, LATER, KEEP)
    assert done.rows == {"inbound_messages": inbound_before - 1, "outbox": 1}
    assert done.partitions == []
    left = await rows(county, "SELECT id, body FROM inbound_messages")
    assert [r["id"] for r in left] == [ids["stuck"]]
    assert [r["id"] for r in await rows(county, "SELECT id FROM outbox")] == [ids["waiting"]]
    deeds = await rows(county, "SELECT body, inbound_id FROM deeds")
    assert deeds == [{"body": "今天帮五保户修了屋顶", "inbound_id": None}]
    counts = await rows(
        county,
        "SELECT month, direction, channel, status, handler, messages, segments "
        "FROM message_counts ORDER BY direction, handler",
    )
    assert sum(int(str(c["messages"])) for c in counts if c["direction"] == "in") == (
        inbound_before - 1
    )
    out = [c for c in counts if c["direction"] == "out"]
    assert [(c["channel"], c["status"], c["messages"], c["segments"]) for c in out] == [
        ("sms", "sent", 1, 1)
    ]
    assert {str(c["month"])[:7] for c in counts} == {MONTH.isoformat()[:7]}
    status = await county.repos.outbox.broadcast_status(ids["broadcast"])
    assert status is not None and status.counts == {"sent": 1}  # counted, not forgotten
    assert "deed" in {c["handler"] for c in counts}

    # Once the rest is done the month goes whole: on PostgreSQL its partitions are dropped.
    await county.repos.inbound.finish(
        ids["stuck"],
        status="handled",
        handler="help",
        person_id=None,
        replies=[],
        error=None,
        now=LATER,
    )
    await county.repos.outbox.cancel(ids["waiting"], "test", LATER)
    done = await retention.prune(county.repos.db, LATER, KEEP)
    assert done.rows == {"inbound_messages": 1, "outbox": 1}
    if county.repos.db.dialect == "postgresql":
        assert done.partitions == [
            partitions.partition_name("inbound_messages", MONTH),
            partitions.partition_name("outbox", MONTH),
        ]
        assert not await partitions.exists(county.repos.db, done.partitions[0])
        assert await rows(county, "SELECT * FROM inbound_keys") == []
    assert await county.repos.inbound.count() == 0
    total = await county.repos.db.fetchval("SELECT SUM(messages) AS n FROM message_counts")
    assert total == inbound_before + 2


async def test_the_daily_upkeep_prunes_once_a_day(county: App) -> None:
    await a_month_of_messages(county)
    ctx = JobContext(county.repos, county.config.zone, "zh-CN", keep_messages=KEEP)
    later = T0 + timedelta(days=2)
    assert await storage_jobs.upkeep(ctx, later)
    texts = await rows(county, "SELECT body FROM outbox WHERE status = 'sent'")
    assert texts == [{"body": ""}]
    await county.repos.outbox.enqueue(
        "retention:old", Outbound(Address(AddressKind.SMS, MEMBER), "旧通知"), T0
    )
    await county.repos.db.write("UPDATE outbox SET status = 'failed' WHERE status = 'pending'")
    assert not await storage_jobs.upkeep(ctx, later + timedelta(hours=1))  # same day: no
    assert len(await rows(county, "SELECT id FROM outbox WHERE body <> ''")) == 2

    # The sweep starts the day's upkeep in the background and returns at once.
    assert await storage_jobs.sweep(ctx, later + timedelta(days=1)) == 0
    assert await storage_jobs.sweep(ctx, later + timedelta(days=1)) == 0  # one at a time
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == "storage upkeep"]
    assert len(tasks) == 1
    assert await tasks[0]
    assert await rows(county, "SELECT id FROM outbox WHERE body <> ''") == []


async def test_no_retention_keeps_everything(county: App) -> None:
    await a_month_of_messages(county)
    before = await rows(county, "SELECT id, body FROM inbound_messages ORDER BY id")
    ctx = JobContext(county.repos, county.config.zone, "zh-CN")  # keep_messages = ""
    assert await storage_jobs.upkeep(ctx, LATER + timedelta(days=900))
    assert await rows(county, "SELECT id, body FROM inbound_messages ORDER BY id") == before


def test_keep_messages_setting(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_config

    def config(text: str):  # type: ignore[no-untyped-def]
        path = tmp_path / "config.toml"
        path.write_text(text, "utf-8")
        return load_config(path, env={})

    assert config("").storage.retention() == timedelta(days=400)
    assert config('[storage]\nkeep_messages = "90d"\n').storage.retention() == timedelta(days=90)
    assert config('[storage]\nkeep_messages = ""\n').storage.retention() is None
    with pytest.raises(ConfigError):
        config('[storage]\nkeep_messages = "5m"\n')


def test_prune_command_says_what_it_did(tmp_path: Path) -> None:
    env = env_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert grassroots(tmp_path, "migrate", env=env).returncode == 0
    old = (datetime.now(UTC) - timedelta(days=90)).isoformat(timespec="microseconds")
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute(
            "INSERT INTO inbound_messages (channel, provider_id, sender_kind, sender, body, "
            "received_at, status) VALUES ('sms', 'SM1', 'sms', '+8613800001101', '旧消息', ?, "
            "'handled')",
            (old,),
        )
    result = grassroots(tmp_path, "--lang", "en", "prune", "--keep", "30d", env=env)
    assert result.returncode == 0, result.stderr
    assert "inbound_messages: texts dropped from 1 older messages" in result.stdout
    assert (
        "inbound_messages: 1 messages of whole months past retention counted into "
        "message_counts and removed" in result.stdout
    )
    zh = grassroots(tmp_path, "prune", "--keep", "30d", env=env)
    assert "inbound_messages：已删除 0 条旧消息的正文" in zh.stdout
    (tmp_path / "keep.toml").write_text('[storage]\nkeep_messages = ""\n', encoding="utf-8")
    off = grassroots(tmp_path, "--lang", "en", "--config", "keep.toml", "prune", env=env)
    assert off.stdout.strip() == EN.get("cli.prune.off"), off.stderr
    bad = grassroots(tmp_path, "prune", "--keep", "soon", env=env)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
