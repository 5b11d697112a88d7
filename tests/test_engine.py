"""The SQLite engine's group commit: what `write` promises, checked from outside the process's
connection, including when the disk fills up and when the database closes under load."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.engine import DatabaseClosed, SqliteDatabase, TransactionLost, _to_positional

SCHEMA = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"


@pytest.fixture
async def db(tmp_path: Path):
    opened = await SqliteDatabase.open(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    await opened.write(SCHEMA)
    yield opened
    if not opened._closed:
        await opened.close()


def on_disk(db: SqliteDatabase) -> set[str]:
    """What another process would read now."""
    path = db.url.split("///", 1)[1]
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT body FROM notes")}


async def test_a_write_is_on_disk_when_it_returns(db):
    await asyncio.gather(
        *(db.write("INSERT INTO notes (body) VALUES (:b)", {"b": f"n{i}"}) for i in range(50))
    )
    assert on_disk(db) == {f"n{i}" for i in range(50)}  # before close, from another connection


async def test_a_constraint_violation_fails_alone(db):
    await db.write("INSERT INTO notes (body) VALUES ('taken')")
    results = await asyncio.gather(
        db.write("INSERT INTO notes (body) VALUES ('a')"),
        db.write("INSERT INTO notes (body) VALUES ('taken')"),
        db.write("INSERT INTO notes (body) VALUES ('b')"),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert on_disk(db) == {"taken", "a", "b"}


async def test_when_the_disk_is_full_no_write_claims_success_without_being_stored(db):
    pages = (await db.fetch("PRAGMA page_count"))[0]["page_count"]
    await db.write(f"PRAGMA max_page_count = {pages + 2}")  # a disk that fills up
    results = await asyncio.gather(
        *(db.write("INSERT INTO notes (body) VALUES (:b)", {"b": f"small{i}"}) for i in range(20)),
        db.write("INSERT INTO notes (body) VALUES (:b)", {"b": "x" * 200_000}),
        *(db.write("INSERT INTO notes (body) VALUES (:b)", {"b": f"late{i}"}) for i in range(20)),
        return_exceptions=True,
    )
    assert any(isinstance(r, Exception) for r in results), "the disk never filled"
    claimed = {f"small{i}" for i in range(20) if not isinstance(results[i], Exception)}
    claimed |= {f"late{i}" for i in range(20) if not isinstance(results[21 + i], Exception)}
    assert claimed <= on_disk(db)  # every success is stored; failures say so
    for result in results:
        if isinstance(result, Exception):
            assert isinstance(result, TransactionLost | sqlite3.OperationalError)


async def test_closing_under_load_neither_hangs_nor_lies(db):
    writes = [
        asyncio.create_task(db.write("INSERT INTO notes (body) VALUES (:b)", {"b": f"w{i}"}))
        for i in range(30)
    ]
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await db.close()
        results = await asyncio.gather(*writes, return_exceptions=True)
    stored = on_disk(db)
    for i, result in enumerate(results):
        if not isinstance(result, Exception):
            assert f"w{i}" in stored
    with pytest.raises(DatabaseClosed):
        await db.write("INSERT INTO notes (body) VALUES ('after')")


def test_positional_parameters_skip_literals_and_comments():
    sql, names = _to_positional(
        "SELECT ':not' || :a -- it's a :comment\n/* and :this */ FROM t WHERE x = :b AND y = :a"
    )
    assert names == ("a", "b")
    assert sql.endswith("FROM t WHERE x = $2 AND y = $1")
    assert "':not' || $1" in sql and ":comment" in sql and ":this" in sql
