"""Retention of the message log and the outbox: `[storage] keep_messages` (say 400 days).

Two steps, texts first:
- a message older than `keep` loses its text at once (inbound body, attachments, replies,
  error, shared contact; outbox body and buttons): the row stays, so what is counted from
  it (a broadcast's status, the console's numbers) stays right;
- a whole month older than `keep` is then removed, counted first into `message_counts`
  (month, direction, channel, status, handler or broadcast: messages and SMS segments).
  On PostgreSQL a month is a partition (storage/partitions.py) and goes by DROP, which
  leaves nothing behind in dead rows; on SQLite and in the legacy and default partitions
  it goes by DELETE.
Only finished rows go: a message not yet handled, an outbox row still pending or sending,
stays, with its text, until it is done. Deeds, commitments, ballots and results are
campaign records in their own tables and are never touched; a deed's (or a public
message's) link to the message that reported it is cleared when that message goes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from storage import partitions
from storage.engine import Database, Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Log:
    spec: partitions.Partitioned
    direction: str
    finished: str  # SQL condition: a row retention may touch
    blank: str  # SQL assignments dropping the texts
    unblanked: str  # SQL condition: texts not yet dropped
    channel: str  # columns counted by (None: not kept for this log)
    handler: str | None
    broadcast: str | None
    segments: str | None
    referrers: tuple[str, ...]  # tables whose inbound_id points here


INBOUND = Log(
    spec=partitions.INBOUND,
    direction="in",
    finished="status <> 'received'",
    blank="body = '', attachments = NULL, reply = NULL, error = NULL, contact = NULL",
    unblanked="(body <> '' OR reply IS NOT NULL OR attachments IS NOT NULL OR contact IS NOT NULL)",
    channel="channel",
    handler="handler",
    broadcast=None,
    segments=None,
    referrers=("deeds", "public_messages"),
)
OUTBOX = Log(
    spec=partitions.OUTBOX,
    direction="out",
    finished="status IN ('sent', 'delivered', 'failed', 'cancelled')",
    blank="body = '', choices = NULL",
    unblanked="(body <> '' OR choices IS NOT NULL)",
    channel="address_kind",
    handler=None,
    broadcast="broadcast_id",
    segments="segments",
    referrers=(),
)
LOGS = (INBOUND, OUTBOX)


@dataclass
class Pruned:
    """What a run did, per table."""

    cutoff: datetime
    texts: dict[str, int] = field(default_factory=dict)  # rows whose texts were dropped
    rows: dict[str, int] = field(default_factory=dict)  # rows removed (and counted)
    partitions: list[str] = field(default_factory=list)  # partitions dropped
    created: list[str] = field(default_factory=list)  # partitions created ahead


async def prune(db: Database, now: datetime, keep: timedelta) -> Pruned:
    cutoff = now - keep
    done = Pruned(cutoff)
    floor = partitions.month_of(cutoff)  # months before this one go whole
    for item in LOGS:
        table = item.spec.table
        done.texts[table] = await _drop_texts(db, item, cutoff)
        removed = 0
        if db.dialect == "postgresql":
            for month in await partitions.months_before(db, table, floor):
                name = partitions.partition_name(table, month)
                count, dropped = await _remove_partition(db, item, name, month)
                removed += count
                if dropped:
                    done.partitions.append(name)
            # Rows from before partitioning, or that came while a month had no partition.
            for rest in (f"{table}_legacy", f"{table}_default"):
                if await partitions.exists(db, rest):
                    removed += await _remove_rows(db, item, rest, floor)
            # Every partition costs each statement a little (PostgreSQL 15 locks them all
            # for a prepared statement): the legacy one goes once it is empty.
            if await _drop_if_empty(db, f"{table}_legacy"):
                done.partitions.append(f"{table}_legacy")
        else:
            removed += await _remove_rows(db, item, table, floor)
        done.rows[table] = removed
    return done


async def _drop_texts(db: Database, item: Log, cutoff: datetime) -> int:
    time = item.spec.time_column
    where = f"{time} < :cutoff AND {item.finished} AND {item.unblanked}"
    params: dict[str, object] = {"cutoff": cutoff}
    update = f"UPDATE {item.spec.table} SET {item.blank} WHERE {where}"
    if db.dialect != "postgresql":
        return len(await db.write(update + " RETURNING id", params))
    # Only partitions up to the cutoff's month can hold such rows (ids carry months).
    params["below"] = partitions.first_id(partitions.add_months(partitions.month_of(cutoff), 1))
    update += " AND id < :below"
    return int(
        await db.fetchval(f"WITH done AS ({update} RETURNING 1) SELECT COUNT(*) FROM done", params)
    )


async def _count(
    tx: Executor,
    item: Log,
    source: str,
    where: str,
    params: dict[str, object],
    month: date | None,
    prefix: str = "",
) -> int:
    """Add the rows about to go (or, after `prefix`'s DELETE, gone) to message_counts, per
    month. Returns how many there are."""
    time = item.spec.time_column
    keys = [c for c in (item.channel, "status", item.handler, item.broadcast) if c is not None]
    if month is None:
        keys.append(_month_sql(tx, time))
    segments = f"SUM({item.segments})" if item.segments else "NULL"
    rows = await tx.fetch(
        f"{prefix} SELECT {', '.join(keys)}, MIN({time}) AS first, COUNT(*) AS messages, "
        f"{segments} AS segments FROM {source} WHERE {where} GROUP BY {', '.join(keys)}",
        params,
    )
    for row in rows:
        first = row["first"]
        if isinstance(first, str):
            first = datetime.fromisoformat(first)
        await tx.execute(
            "INSERT INTO message_counts (month, direction, channel, status, handler, "
            "broadcast_id, messages, segments) VALUES (:month, :direction, :channel, :status, "
            ":handler, :broadcast_id, :messages, :segments)",
            {
                "month": month or partitions.month_of(first.astimezone(UTC)),
                "direction": item.direction,
                "channel": row[item.channel],
                "status": row["status"],
                "handler": row[item.handler] if item.handler else None,
                "broadcast_id": row[item.broadcast] if item.broadcast else None,
                "messages": row["messages"],
                "segments": row["segments"],
            },
        )
    return sum(int(row["messages"]) for row in rows)


def _month_sql(tx: Executor, column: str) -> str:
    if tx.dialect == "postgresql":
        return f"date_trunc('month', {column} AT TIME ZONE 'UTC')"
    return f"substr({column}, 1, 7)"  # ISO-8601 text in UTC: YYYY-MM


async def _unlink(
    tx: Executor, item: Log, source: str, where: str, params: dict[str, object]
) -> None:
    """Clear the links to the rows about to go: the records stay, the message goes."""
    for referrer in item.referrers:
        await tx.execute(
            f"UPDATE {referrer} SET inbound_id = NULL "
            f"WHERE inbound_id IN (SELECT id FROM {source} WHERE {where})",
            params,
        )
    if tx.dialect == "postgresql":
        await tx.execute(
            f"DELETE FROM {item.spec.key_table} "
            f"WHERE id IN (SELECT id FROM {source} WHERE {where})",
            params,
        )


async def _remove_rows(db: Database, item: Log, source: str, floor: date) -> int:
    """Count and delete the finished rows of `source` dated before `floor`."""
    where = f"{item.spec.time_column} < :floor AND {item.finished}"
    params: dict[str, object] = {"floor": datetime(floor.year, floor.month, 1, tzinfo=UTC)}
    async with db.transaction() as tx:
        if tx.dialect != "postgresql":  # one writer: counted and deleted as one
            count = await _count(tx, item, source, where, params, None)
            if count:
                await _unlink(tx, item, source, where, params)
                await tx.execute(f"DELETE FROM {source} WHERE {where}", params)
            return count
        # No lock on the table (the webhooks' updates would wait): what is counted is what
        # the DELETE returned.
        await _unlink(tx, item, source, where, params)
        gone = f"WITH gone AS (DELETE FROM {source} WHERE {where} RETURNING *)"
        return await _count(tx, item, "gone", "TRUE", params, None, prefix=gone)


async def _remove_partition(db: Database, item: Log, name: str, month: date) -> tuple[int, bool]:
    """A month wholly past retention: counted, then dropped if every row in it is finished;
    else only its finished rows go and it stays for the rest. Returns (rows, dropped).
    No insert reaches a past month (ids are made in the current one)."""
    async with db.transaction() as tx:
        unfinished = await tx.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {name} WHERE NOT ({item.finished})) AS e"
        )
        if unfinished:
            await _unlink(tx, item, name, item.finished, {})
            gone = f"WITH gone AS (DELETE FROM {name} WHERE {item.finished} RETURNING *)"
            return await _count(tx, item, "gone", "TRUE", {}, month, prefix=gone), False
        count = await _count(tx, item, name, "TRUE", {}, month)
        bounds = {
            "low": partitions.first_id(month),
            "high": partitions.first_id(partitions.add_months(month, 1)),
        }
        for referrer in item.referrers:  # a unique index on inbound_id: a range scan
            await tx.execute(
                f"UPDATE {referrer} SET inbound_id = NULL "
                "WHERE inbound_id >= :low AND inbound_id < :high",
                bounds,
            )
        await tx.execute(
            f"DELETE FROM {item.spec.key_table} WHERE id >= :low AND id < :high", bounds
        )
        # Dropping a partition locks the whole table for a moment: never wait in line for
        # it behind a long transaction (the webhooks would queue behind us); try tomorrow.
        await tx.execute("SET LOCAL lock_timeout = '5s'")
        await tx.execute(f"DROP TABLE {name}")
    log.info("retention: dropped partition %s (%d rows, counted)", name, count)
    return count, True


async def _drop_if_empty(db: Database, name: str) -> bool:
    if not await partitions.exists(db, name):
        return False
    async with db.transaction() as tx:
        if await tx.fetchval(f"SELECT EXISTS (SELECT 1 FROM {name}) AS e"):
            return False
        await tx.execute("SET LOCAL lock_timeout = '5s'")
        await tx.execute(f"DROP TABLE {name}")
    log.info("retention: dropped the empty partition %s", name)
    return True
