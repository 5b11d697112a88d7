"""The database engines: SQLite through aiosqlite (embedded) and PostgreSQL through asyncpg.

Repositories write portable SQL with `:name` parameters: `fetch` (and `fetchrow`,
`fetchval`) to read, `write` for one statement that changes data (durable when it returns),
and `transaction()` for several statements that must stand or fall together.

Every statement sent to the driver is counted in `round_trips` (by its first word), so a
benchmark can say how many round trips a message costs (bench/roundtrips.py).

On PostgreSQL, `unit()` makes everything a task writes until it ends one transaction (a
message's handler writes and its finish): one commit, and no half-handled message after a
crash. On SQLite it is a no-op: group commit already shares the commits.

SQLite has one writer, so its engine keeps one connection and commits in groups. Single
writes from concurrent messages are queued straight to the driver thread, back to back, and
one COMMIT makes all that finished meanwhile durable; each `write` returns only after that
COMMIT, so "recorded durably before handling" holds while messages share its cost. A
multi-statement unit runs alone inside a SAVEPOINT, so a failing unit rolls back alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiosqlite

Params = Mapping[str, Any] | None
Row = Mapping[str, Any]

SQLITE_PREFIX = "sqlite+aiosqlite:///"
POSTGRES_PREFIX = "postgresql+asyncpg://"
STATEMENT_CACHE = 1024  # prepared statements kept per PostgreSQL connection


class TransactionLost(Exception):
    """The shared transaction a write was in was rolled back or failed to commit: the write
    is not stored, and the caller must not acknowledge it (a webhook answers 5xx and is
    retried by its provider)."""


class DatabaseClosed(Exception):
    """A write after close()."""


class DatabaseUnavailable(Exception):
    """The database named by the URL cannot be used, for a reason the operator fixes (the
    server is down, the database or schema does not exist, the login is refused). `problem`
    names the case and `params` what to say about it; str() is an English line."""

    def __init__(self, problem: str, **params: object) -> None:
        self.problem = problem
        self.params = params
        details = ", ".join(f"{k}={v}" for k, v in params.items())
        super().__init__(f"database unavailable ({problem}): {details}")


@lru_cache(maxsize=1024)
def statement_kind(sql: str) -> str:
    """The first word of a statement, upper-case: what `round_trips` counts it under."""
    head = sql.lstrip().split(None, 1)
    return head[0].upper() if head else ""


class Executor(ABC):
    """What a repository can run: the database itself, or one open transaction."""

    dialect: str
    # Statements sent to the driver, by kind; shared by a database and its transactions.
    round_trips: Counter[str]

    @abstractmethod
    async def fetch(self, sql: str, params: Params = None) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = None) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None: ...

    async def append(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        skip_conflicts_on: Sequence[str] = (),
    ) -> None:
        """Append rows given as tuples already in their stored form (see `stored`), in one
        round trip and without converting each value: COPY on PostgreSQL, one executemany
        on SQLite. `skip_conflicts_on` (SQLite only: COPY cannot skip a row) keeps a row
        whose key is already there as it was. Inside a transaction only."""
        raise NotImplementedError("append runs inside a transaction")

    def stored(self, value: Any) -> Any:
        """A value in the form this engine stores it (SQLite: timestamps as text)."""
        return value

    async def fetchrow(self, sql: str, params: Params = None) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = None) -> Any:
        row = await self.fetchrow(sql, params)
        return None if row is None else next(iter(row.values()))

    async def execute_together(self, statements: Sequence[str], params: Params = None) -> None:
        """Several writes, in one round trip where the dialect allows it (PostgreSQL: each
        but the last as a data-modifying WITH), else one after another; they share one set
        of parameters. They run on one snapshot, so none may depend on another's effect."""
        if self.dialect == "postgresql" and len(statements) > 1:
            parts = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(statements[:-1]))
            await self.execute(f"WITH {parts} {statements[-1]}", params)
            return
        for sql in statements:
            await self.execute(sql, params)


class Database(Executor):
    url: str

    def unit(self) -> Any:
        """An async context manager: the writes of this task until it ends commit together
        (PostgreSQL); a no-op where the engine shares commits anyway (SQLite)."""
        return contextlib.nullcontext(self)

    @abstractmethod
    async def write(self, sql: str, params: Params = None) -> list[Row]:
        """Run one statement that writes (RETURNING rows, if any); durable on return."""

    @abstractmethod
    def transaction(self) -> Any:
        """An async context manager yielding an Executor whose writes commit together."""

    @abstractmethod
    async def close(self) -> None: ...


# --- SQLite -------------------------------------------------------------------------------


def in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`:p0, :p1, ...` and their parameters, for an IN (...) list."""
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{name}" for name in params), params


def _sqlite_param(value: Any) -> Any:
    # Timestamps are stored as ISO-8601 text in UTC, dates as YYYY-MM-DD; both sort as text
    # only because every timestamp has the same offset.
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc.isoformat(timespec="microseconds")  # one width, so text order is time order
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sqlite_params(params: Params) -> dict[str, Any]:
    return {k: _sqlite_param(v) for k, v in params.items()} if params else {}


def _dict_row(cursor: Any, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class _SqliteUnit(Executor):
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, round_trips: Counter[str]) -> None:
        self._conn = conn
        self.round_trips = round_trips

    async def fetch(self, sql: str, params: Params = None) -> list[Row]:
        self.round_trips[statement_kind(sql)] += 1
        rows = await self._conn.execute_fetchall(sql, _sqlite_params(params))
        return cast("list[Row]", list(rows))  # dicts, from _dict_row

    async def execute(self, sql: str, params: Params = None) -> None:
        self.round_trips[statement_kind(sql)] += 1
        await self._conn.execute_fetchall(sql, _sqlite_params(params))

    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        self.round_trips[statement_kind(sql)] += 1
        await self._conn.executemany(sql, [_sqlite_params(r) for r in rows])

    async def append(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        skip_conflicts_on: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if skip_conflicts_on:
            sql += f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING"
        self.round_trips["INSERT"] += 1
        await self._conn.executemany(sql, rows)

    def stored(self, value: Any) -> Any:
        return _sqlite_param(value)

    async def control(self, sql: str) -> None:
        """A transaction-control statement of the engine's own (counted like the others)."""
        self.round_trips[statement_kind(sql)] += 1
        await self._conn.execute(sql)


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str, conn: aiosqlite.Connection) -> None:
        self.url = url
        self._conn = conn
        self.round_trips = Counter()
        self._unit = _SqliteUnit(conn, self.round_trips)
        # Held by a multi-statement unit (between its SAVEPOINT and RELEASE) and by a COMMIT;
        # single writes wait while it is held so nothing lands inside someone's savepoint.
        self._lock = asyncio.Lock()
        self._commit: asyncio.Future[None] | None = None  # the next group commit
        self._flusher: asyncio.Task[None] | None = None
        self._flushing: asyncio.Future[None] | None = None  # the commit being written
        self._closed = False
        # Single writes queued to the driver and not yet run: a unit waits for them (so
        # in_transaction is exact) without a statement of its own to drain the queue.
        self._writing = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._abandoned = False  # a write's caller went away: its statement may still be queued

    @classmethod
    async def open(cls, url: str) -> SqliteDatabase:
        path = url[len(SQLITE_PREFIX) :]
        try:
            if path not in ("", ":memory:"):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # sqlite3's implicit transactions: the driver thread issues BEGIN IMMEDIATE right
            # before the first write after a commit, so a transaction is open only while
            # there is something to commit, and never idle-holds the lock other processes need.
            conn = await aiosqlite.connect(path or ":memory:", isolation_level="IMMEDIATE")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable("sqlite", path=path, detail=_reason(exc)) from exc
        conn.row_factory = cast(type, _dict_row)  # aiosqlite types it narrower than sqlite3
        try:
            for pragma in (
                "PRAGMA journal_mode=WAL",
                # FULL: a commit survives a power cut, not only a crash. Group commit is what
                # makes the fsync per commit affordable (bench/ingest.py).
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=10000",  # another process (an import, `chat`) may hold it
                # A deleted or overwritten row is zeroed, not left in a free page (DESIGN §4).
                "PRAGMA secure_delete=ON",
            ):
                await conn.execute(pragma)
        except sqlite3.Error as exc:  # not a database file, or a read-only directory
            await conn.close()
            raise DatabaseUnavailable("sqlite", path=path, detail=_reason(exc)) from exc
        return cls(url, conn)

    async def fetch(self, sql: str, params: Params = None) -> list[Row]:
        return await self._unit.fetch(sql, params)

    async def write(self, sql: str, params: Params = None) -> list[Row]:
        if self._closed:
            raise DatabaseClosed("the database is closed")
        while self._lock.locked():
            async with self._lock:
                pass
        # No await between the check above and the statement entering aiosqlite's queue.
        self._writing += 1
        self._quiet.clear()
        try:
            rows = await self._unit.fetch(sql, params)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._abandoned = True
            self._wrote()
            self._after_failure(exc)
            await self._settle()  # the caller sees the error with the write lock released
            raise
        self._wrote()
        await self._durable()
        return rows

    def _wrote(self) -> None:
        self._writing -= 1
        if not self._writing:
            self._quiet.set()

    async def execute(self, sql: str, params: Params = None) -> None:
        await self.write(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        if self._closed:
            raise DatabaseClosed("the database is closed")
        error: BaseException | None = None
        async with self._lock:
            try:
                # Let the writes queued before the lock was taken run, so in_transaction is
                # exact, then hold the write lock from the unit's first read on. (A write
                # whose caller was cancelled may still be queued: drain the queue then.)
                await self._quiet.wait()
                if self._abandoned:
                    self._abandoned = False
                    await self._unit.execute("SELECT 1")
                if not self._conn.in_transaction:
                    await self._unit.control("BEGIN IMMEDIATE")
                await self._unit.control("SAVEPOINT unit")
            except BaseException:  # cancelled or busy before the unit began: nothing lost
                self._next_commit()
                raise
            try:
                yield self._unit
            except BaseException as exc:
                error = exc
                try:
                    await self._unit.control("ROLLBACK TO unit")
                    await self._unit.control("RELEASE unit")
                except BaseException as rollback_error:  # the whole transaction is gone
                    self._after_failure(rollback_error, rolled_back=True)
            else:
                await self._unit.control("RELEASE unit")
        if error is not None:  # rolled back to the savepoint: the others' work stands
            await self._settle()
            raise error
        await self._durable()

    def _after_failure(self, exc: BaseException, rolled_back: bool = False) -> None:
        """A statement failed. A constraint violation undoes only its own statement; most
        other errors (disk full, I/O, interrupt) make SQLite roll back the whole shared
        transaction, taking the other writers' statements with it: their COMMIT must then
        fail rather than report a durability that is not there. Either way a commit is
        scheduled, so the driver's implicit BEGIN never idles holding the write lock."""
        statement_only = isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError)
        if rolled_back or not statement_only:
            # Both the commit being written now and the next one may cover lost writes.
            lost = TransactionLost(f"transaction rolled back: {exc!r}")
            for commit in (self._flushing, self._commit):
                if commit is not None and not commit.done():
                    commit.set_exception(lost)
            self._commit = None
        self._next_commit()

    async def _settle(self) -> None:
        """After a failure: wait for the open transaction's commit, whatever its outcome."""
        with contextlib.suppress(Exception):
            await asyncio.shield(self._next_commit())

    def _next_commit(self) -> asyncio.Future[None]:
        """The first COMMIT queued after this point, scheduled if none is yet."""
        if self._commit is None:
            loop = asyncio.get_running_loop()
            self._commit = loop.create_future()
            # Retrieve the outcome even when nobody awaits it (a failed unit's commit).
            self._commit.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._flusher = loop.create_task(self._flush())  # keep a reference: see asyncio docs
        return self._commit

    async def _durable(self) -> None:
        """Wait until everything executed so far on the connection is on disk; concurrent
        writers share that COMMIT."""
        await asyncio.shield(self._next_commit())

    async def _flush(self) -> None:
        # Behind the units already waiting for the lock (asyncio.Lock is FIFO), so they
        # and every single write finished meanwhile ride on this commit.
        async with self._lock:
            commit, self._commit = self._commit, None  # later writers wait for the next one
            if commit is None or commit.done():  # close() committed, or it was lost
                return
            self._flushing = commit
            try:
                self.round_trips["COMMIT"] += 1
                await self._conn.commit()
            except BaseException as exc:
                with contextlib.suppress(BaseException):
                    await self._conn.rollback()
                if not commit.done():
                    commit.set_exception(TransactionLost(f"commit failed: {exc!r}"))
                if not isinstance(exc, Exception):
                    raise
            else:
                if not commit.done():  # a failure meanwhile may have marked it lost
                    commit.set_result(None)
            finally:
                self._flushing = None
                if not commit.done():  # never leave writers waiting forever
                    commit.set_exception(TransactionLost("commit interrupted"))

    async def close(self) -> None:
        self._closed = True  # new writes fail at once; those under way finish
        async with self._lock:
            await self._conn.commit()
            if self._commit is not None:  # a flush scheduled but not yet run: done here
                if not self._commit.done():
                    self._commit.set_result(None)
                self._commit = None
        await self._conn.close()


# --- PostgreSQL ---------------------------------------------------------------------------

# A string literal or a comment (left alone: ':person:' is text) or a :name parameter (not a
# ::cast).
_NAMED = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|(?<![:\w]):([A-Za-z_]\w*)", re.S)


@lru_cache(maxsize=512)
def _to_positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """Rewrite `:name` parameters as asyncpg's `$n`, once per distinct statement."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def _pg_args(names: Sequence[str], params: Params) -> list[Any]:
    if not names:
        return []
    assert params is not None, "statement has parameters but none were given"
    return [params[n] for n in names]


class _PgExecutor(Executor):
    dialect = "postgresql"

    def __init__(self, target: Any, round_trips: Counter[str]) -> None:
        self._target = target  # an asyncpg Pool or Connection
        self.round_trips = round_trips

    async def fetch(self, sql: str, params: Params = None) -> list[Row]:
        text, names = _to_positional(sql)
        self.round_trips[statement_kind(sql)] += 1
        return [dict(r) for r in await self._target.fetch(text, *_pg_args(names, params))]

    async def execute(self, sql: str, params: Params = None) -> None:
        text, names = _to_positional(sql)
        self.round_trips[statement_kind(sql)] += 1
        await self._target.execute(text, *_pg_args(names, params))

    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        text, names = _to_positional(sql)
        self.round_trips[statement_kind(sql)] += 1
        await self._target.executemany(text, [_pg_args(names, r) for r in rows])

    async def append(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[tuple[Any, ...]],
        *,
        skip_conflicts_on: Sequence[str] = (),
    ) -> None:
        if skip_conflicts_on:
            raise ValueError("COPY cannot skip conflicts: use INSERT ... SELECT FROM unnest")
        if not rows:
            return
        self.round_trips["COPY"] += 1
        await self._target.copy_records_to_table(table, records=rows, columns=list(columns))


class _PgUnit(_PgExecutor):
    """One connection held for a task's unit of work. The transaction begins at the first
    write, so a unit that only reads (or whose only write is its last) costs no BEGIN and
    COMMIT; the first `transaction()` block of a unit is that transaction itself (no
    SAVEPOINT: nothing was written before it), later ones are savepoints inside it."""

    def __init__(self, conn: Any, round_trips: Counter[str]) -> None:
        super().__init__(conn, round_trips)
        self.conn = conn
        self.top: Any = None  # the asyncpg Transaction, once begun
        self.open = True  # False once the unit ended: a task it spawned must not use it
        # One statement at a time on the connection, should a handler run two at once.
        self.lock = asyncio.Lock()

    async def begin(self) -> None:
        async with self.lock:
            if self.top is None:
                self.round_trips["BEGIN"] += 1
                top = self.conn.transaction()
                await top.start()
                self.top = top

    async def end(self, commit: bool) -> None:
        async with self.lock:
            top, self.top = self.top, None
            if top is not None:
                self.round_trips["COMMIT" if commit else "ROLLBACK"] += 1
                await (top.commit() if commit else top.rollback())

    async def fetch(self, sql: str, params: Params = None) -> list[Row]:
        async with self.lock:
            return await super().fetch(sql, params)

    async def execute(self, sql: str, params: Params = None) -> None:
        async with self.lock:
            await super().execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        async with self.lock:
            await super().executemany(sql, rows)


# The unit of work the current task is in, if any (PostgresDatabase.unit).
_current_unit: ContextVar[_PgUnit | None] = ContextVar("grassroots_pg_unit", default=None)


async def _keep_session(conn: Any) -> None:
    """The pool's reset on release, instead of asyncpg's RESET ALL / UNLISTEN / advisory
    unlock query: a round trip after every statement taken from the pool, for session state
    this project never sets (asyncpg still rolls back a transaction left open)."""


def split_search_path(url: str) -> tuple[str, str | None]:
    """Take an optional `?search_path=schema` off a PostgreSQL URL (deploy into a schema)."""
    if not url.startswith(POSTGRES_PREFIX):
        return url, None
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "search_path"), None)
    rest = urlencode([(k, v) for k, v in query if k != "search_path"])
    return urlunsplit(parts._replace(query=rest)), schema


class PostgresDatabase(_PgExecutor, Database):
    def __init__(self, url: str, pool: Any) -> None:
        super().__init__(pool, Counter())
        self.url = url
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PostgresDatabase:
        import asyncpg  # imported here so the SQLite default never loads it

        plain, schema = split_search_path(url)
        dsn = "postgresql://" + plain[len(POSTGRES_PREFIX) :]
        settings = {"search_path": schema} if schema else None
        parts = urlsplit(plain)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        database = parts.path.lstrip("/") or parts.username or "postgres"
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                server_settings=settings,
                reset=_keep_session,
                # Every statement is prepared once per connection and reused; the default
                # 100 is fewer than the distinct statements a busy deployment runs.
                statement_cache_size=STATEMENT_CACHE,
            )
        except asyncpg.InvalidCatalogNameError as exc:
            raise DatabaseUnavailable("no_database", database=database) from exc
        except (
            asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError,
        ) as exc:
            user = parts.username or "-"
            raise DatabaseUnavailable("refused", user=user, detail=_reason(exc)) from exc
        except (OSError, TimeoutError, asyncpg.PostgresConnectionError) as exc:
            raise DatabaseUnavailable("unreachable", where=where, detail=_reason(exc)) from exc
        except asyncpg.PostgresError as exc:
            raise DatabaseUnavailable("failed", detail=_reason(exc)) from exc
        # A schema named in the URL must exist: creating it on a typo would start the
        # deployment on an empty database, as if every member and ballot were gone.
        if schema and not await pool.fetchval(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1", schema
        ):
            await pool.close()
            raise DatabaseUnavailable("no_schema", schema=schema, database=database)
        return cls(url, pool)

    def _unit(self) -> _PgUnit | None:
        unit = _current_unit.get()
        return unit if unit is not None and unit.open else None

    async def fetch(self, sql: str, params: Params = None) -> list[Row]:
        unit = self._unit()
        return await (unit.fetch(sql, params) if unit else super().fetch(sql, params))

    async def execute(self, sql: str, params: Params = None) -> None:
        await self.write(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        if unit := self._unit():
            await unit.begin()
            await unit.executemany(sql, rows)
        else:
            await super().executemany(sql, rows)

    async def write(self, sql: str, params: Params = None) -> list[Row]:
        if unit := self._unit():
            await unit.begin()
            return await unit.fetch(sql, params)
        return await super().fetch(sql, params)  # a lone statement commits on its own

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        unit = self._unit()
        if unit is None:
            async with self._pool.acquire() as conn:
                self.round_trips["BEGIN"] += 1
                tx = conn.transaction()
                await tx.start()
                try:
                    yield _PgExecutor(conn, self.round_trips)
                except BaseException:
                    self.round_trips["ROLLBACK"] += 1
                    await tx.rollback()
                    raise
                self.round_trips["COMMIT"] += 1
                await tx.commit()
        elif unit.top is None:  # the unit's first write: its transaction is this block's
            await unit.begin()
            try:
                yield unit
            except BaseException:
                await unit.end(commit=False)  # as if the block had never run
                raise
        else:
            self.round_trips["SAVEPOINT"] += 1
            async with unit.lock:
                savepoint = unit.conn.transaction()
                await savepoint.start()
            try:
                yield unit
            except BaseException:
                self.round_trips["ROLLBACK"] += 1
                async with unit.lock:
                    await savepoint.rollback()
                raise
            self.round_trips["RELEASE"] += 1
            async with unit.lock:
                await savepoint.commit()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Executor]:
        if self._unit() is not None:  # already in one: this is part of it
            yield self
            return
        async with self._pool.acquire() as conn:
            unit = _PgUnit(conn, self.round_trips)
            token = _current_unit.set(unit)
            try:
                yield self
            except BaseException:
                unit.open = False
                await unit.end(commit=False)
                raise
            else:
                unit.open = False
                await unit.end(commit=True)
            finally:
                unit.open = False
                _current_unit.reset(token)

    async def close(self) -> None:
        await self._pool.close()


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line (a socket error's strerror, not its repr)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


async def open_database(url: str) -> Database:
    if url.startswith(SQLITE_PREFIX):
        return await SqliteDatabase.open(url)
    if url.startswith(POSTGRES_PREFIX):
        return await PostgresDatabase.open(url)
    raise ValueError(f"unsupported database URL {url!r}")


def as_datetime(value: Any) -> datetime | None:
    """Read back a timestamp: asyncpg gives datetime, SQLite gives ISO text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
