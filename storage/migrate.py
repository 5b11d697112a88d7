"""Versioned migrations with Alembic, run in place on SQLite and PostgreSQL alike.

`ensure_schema` is cheap when the database is current (one query on the engine already
open); only an out-of-date database loads SQLAlchemy and Alembic to upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from storage.engine import SQLITE_PREFIX, Database, split_search_path
from storage.migrations import HEAD

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: object | None = None):  # -> alembic.config.Config
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def current_revision(db: Database) -> str | None:
    if db.dialect == "sqlite":
        exists = await db.fetchval(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        )
    else:
        exists = await db.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL AS e")
    if not exists:
        return None
    return await db.fetchval("SELECT version_num FROM alembic_version")


# Alembic's migration context is global to the process: one upgrade at a time.
_upgrading = asyncio.Lock()


@contextlib.contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    """Processes starting together on a new SQLite file: one migrates, the rest wait.
    (PostgreSQL does the same with an advisory lock in migrations/env.py.)"""
    if not url.startswith(SQLITE_PREFIX):
        yield
        return
    lock_path = Path(url[len(SQLITE_PREFIX) :] + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` through Alembic."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    plain, schema = split_search_path(url)
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    async with _upgrading:
        with _sqlite_file_lock(url):
            engine = create_async_engine(plain, connect_args=connect_args)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(
                        lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision)
                    )
            finally:
                await engine.dispose()


async def ensure_schema(db: Database) -> None:
    """Bring the open database to HEAD, upgrading in place if it is behind."""
    current = await current_revision(db)
    if current == HEAD:
        return
    log.info("upgrading database schema from %s to %s", current or "empty", HEAD)
    await upgrade(db.url)
