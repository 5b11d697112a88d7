"""Finding 12.2: redaction only logical. A counted answer's text must be gone from the
database's files (SQLite: the database and its -wal; PostgreSQL: every row version on the
table's pages, dead ones too), not just replaced by a marker in the live row."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import App
from tests.conftest import MEMBER, SECRETARY, VILLAGER, Phone

ANSWER = "P1 基本满意"
COMMENTED = "P1 3，村干部不管修路"


async def counted(app: App) -> None:
    secretary = Phone(app, SECRETARY)
    await secretary.says("评议 #全体 您对村里修路满意吗？")
    await secretary.says("确认")
    assert (await Phone(app, VILLAGER).says(ANSWER))[0].startswith("已记录：")
    assert (await Phone(app, MEMBER).says(COMMENTED))[0].startswith("已记录：")


def files_of(url: str) -> list[Path]:
    path = Path(url.split("///", 1)[1])
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


async def test_a_counted_answer_is_not_in_the_sqlite_files(county: App, db_url: str):
    if county.repos.db.dialect != "sqlite":
        pytest.skip("the PostgreSQL twin reads the table's pages")
    await counted(county)
    files = files_of(db_url)
    assert any(p.name.endswith("-wal") for p in files)  # the WAL is there, and read
    for needle in (ANSWER, COMMENTED, "村干部不管修路"):
        for path in files:
            assert needle.encode() not in path.read_bytes(), (needle, path.name)
    # The log still reads as it did for those who may read it: the marker.
    rows = await county.repos.db.fetch(
        "SELECT body FROM inbound_messages WHERE handler IN ('poll.answer', 'poll.comment')"
    )
    assert len(rows) == 2
    assert {county.repos.inbound.open_body(r["body"]) for r in rows} == {"[P1]"}


async def test_a_counted_answer_is_in_no_row_version_on_postgresql(county: App):
    db = county.repos.db
    if db.dialect != "postgresql":
        pytest.skip("SQLite: see the files test")
    try:
        await db.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    except Exception as exc:  # not a superuser here: nothing to read the pages with
        pytest.skip(f"pageinspect unavailable: {exc}")
    await counted(county)
    for table in ("inbound_messages", "pending_comments", "sealed_ballots"):
        pages = await db.fetchval(
            f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int"
        )
        for page in range(pages):
            raw = await db.fetchval(f"SELECT get_raw_page('{table}', {page})")
            for needle in (ANSWER, COMMENTED, "村干部不管修路"):
                assert needle.encode() not in bytes(raw), (needle, table, page)
