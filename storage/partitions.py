"""Monthly partitions of the message log and the outbox on PostgreSQL (SQLite has none).

The partition key is the row's id, and the id carries its month: `month_id()` in the
database makes it (months since 2000-01) * 2**40 + the table's sequence. So the partition
of a month is an id range, and every `WHERE id = :id` the code already writes (finish a
message, mark an outbox row sent) reaches one partition, not all of them, without any query
naming a date; the id stays the whole primary key, unique across partitions, and ids still
grow with time. A sequence would need 2**40 (a trillion) rows to spill into the next month.

A unique column that is not the partition key cannot be unique across partitions, so the
provider's id of a message and the outbox's idempotency key are kept unique in two small
plain tables (`inbound_keys`, `outbox_keys`) by a trigger: an INSERT whose key exists is
skipped, exactly as `ON CONFLICT DO NOTHING` skips it (the statements that insert say no
conflict target for that reason).

Months are created ahead by the scheduler (`ensure_ahead`); a row whose month has no
partition yet lands in the table's DEFAULT partition rather than being refused, and is moved
into its month's partition when that is created. Rows from before partitioning stay in the
`_legacy` partition until retention empties it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from storage.engine import Executor

SHIFT = 40  # bits of the sequence under the month
BASE_YEAR = 2000
AHEAD = 1  # months created beyond the current one (the scheduler looks daily)


@dataclass(frozen=True, slots=True)
class Partitioned:
    table: str
    time_column: str  # the row's own time, for retention
    key_table: str  # the plain table holding the unique key
    key_columns: tuple[str, ...]


INBOUND = Partitioned("inbound_messages", "received_at", "inbound_keys", ("channel", "provider_id"))
OUTBOX = Partitioned("outbox", "created_at", "outbox_keys", ("idempotency_key",))
TABLES = (INBOUND, OUTBOX)

# The id's month, computed where the row is inserted (UTC, the transaction's start).
MONTH_ID_SQL = f"""
CREATE OR REPLACE FUNCTION month_id(seq bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT ((EXTRACT(YEAR FROM now() AT TIME ZONE 'UTC')::bigint - {BASE_YEAR}) * 12
            + EXTRACT(MONTH FROM now() AT TIME ZONE 'UTC')::bigint - 1) * {1 << SHIFT} + seq
$$
"""


def key_trigger_sql(spec: Partitioned) -> list[str]:
    """The trigger keeping `spec`'s key unique across partitions: a second row with a key
    already held is skipped (the INSERT returns no row), as a unique index would have it."""
    cols = ", ".join(spec.key_columns)
    values = ", ".join(f"NEW.{c}" for c in spec.key_columns)
    name = f"{spec.table}_key"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {spec.key_table} ({cols}, id) VALUES ({values}, NEW.id)
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            RETURN NEW;
        END
        $$
        """,
        f"CREATE TRIGGER {name} BEFORE INSERT ON {spec.table} "
        f"FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def first_id(month: date) -> int:
    """The smallest id of a row inserted in `month`."""
    return ((month.year - BASE_YEAR) * 12 + month.month - 1) << SHIFT


def month_of_id(row_id: int) -> date:
    return add_months(date(BASE_YEAR, 1, 1), row_id >> SHIFT)


def partition_name(table: str, month: date) -> str:
    return f"{table}_{month.year:04d}_{month.month:02d}"


async def exists(db: Executor, name: str) -> bool:
    return bool(await db.fetchval("SELECT to_regclass(:name) IS NOT NULL AS e", {"name": name}))


async def create_month(db: Executor, table: str, month: date) -> bool:
    """Create `table`'s partition of `month` (in a transaction: `db` is one). Rows already
    in the DEFAULT partition for that month move into it. False if it existed."""
    name = partition_name(table, month)
    await db.execute("SELECT pg_advisory_xact_lock(hashtext(:name))", {"name": name})
    if await exists(db, name):
        return False
    low, high = first_id(month), first_id(add_months(month, 1))
    default = f"{table}_default"
    stray = await db.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE id >= :low AND id < :high) AS e",
        {"low": low, "high": high},
    )
    if not stray:
        await db.execute(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})"
        )
        return True
    # A month the scheduler did not create in time: move its rows out of the default first
    # (attaching checks that the default holds none of the new range).
    await db.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    where = "WHERE id >= :low AND id < :high"
    await db.execute(
        f"INSERT INTO {name} SELECT * FROM {default} {where}", {"low": low, "high": high}
    )
    await db.execute(f"DELETE FROM {default} {where}", {"low": low, "high": high})
    await db.execute(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({low}) TO ({high})"
    )
    return True


async def ensure_ahead(db: Executor, now: datetime, ahead: int = AHEAD) -> list[str]:
    """Create this month's partitions and `ahead` more, where missing. Returns the new
    partitions' names. PostgreSQL only; `db` may be a database or a transaction."""
    created: list[str] = []
    # Ids take their month from the database's clock: never make a month behind it (an
    # application clock set in the past would ask for one inside the legacy range).
    db_now = await db.fetchval("SELECT now() AS now")
    start = max(month_of(now.astimezone(UTC)), month_of(db_now.astimezone(UTC)))
    for spec in TABLES:
        legacy_end = await _legacy_end(db, spec.table)
        for step in range(ahead + 1):
            month = add_months(start, step)
            if await exists(db, partition_name(spec.table, month)):
                continue  # the common case: one cheap read per month
            if first_id(month) < legacy_end:
                continue  # still inside the legacy partition's range (see the migration)
            if hasattr(db, "transaction"):
                async with db.transaction() as tx:  # type: ignore[attr-defined]
                    made = await create_month(tx, spec.table, month)
            else:
                made = await create_month(db, spec.table, month)
            if made:
                created.append(partition_name(spec.table, month))
    return created


async def _legacy_end(db: Executor, table: str) -> int:
    """Where the legacy partition's id range ends (0: there is none)."""
    bound = await db.fetchval(
        "SELECT pg_get_expr(relpartbound, oid) AS b FROM pg_class WHERE oid = to_regclass(:n)",
        {"n": f"{table}_legacy"},
    )
    found = re.search(r"TO \('?(\d+)'?\)", bound or "")
    return int(found.group(1)) if found else 0


async def months_before(db: Executor, table: str, month: date) -> list[date]:
    """The months of `table`'s monthly partitions that end on or before `month` begins."""
    rows = await db.fetch(
        """
        SELECT c.relname AS name FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(:table)
        """,
        {"table": table},
    )
    found = []
    prefix = f"{table}_"
    for row in rows:
        suffix = str(row["name"])[len(prefix) :]
        year, _, mon = suffix.partition("_")
        if year.isdigit() and mon.isdigit():
            start = date(int(year), int(mon), 1)
            if start < month:
                found.append(start)
    return sorted(found)
