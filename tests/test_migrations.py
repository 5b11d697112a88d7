"""Migrations: HEAD matches Alembic, the schema is created and upgraded in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory

import storage.migrate
from storage.engine import Database, open_database, split_search_path
from storage.migrate import alembic_config, current_revision, ensure_schema, upgrade
from storage.migrations import HEAD
from storage.repositories import open_repositories

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TABLES = {
    "organisations",
    "people",
    "addresses",
    "roles",
    "inbound_messages",
    "deeds",
    "outbox",
    "broadcasts",
    "job_runs",
    "locks",
    "alembic_version",
    "pending_questions",
    "polls",
    "ballots",
    "sealed_ballots",
    "pending_comments",
    "poll_participants",
    "comments",
    "recommendations",
    "public_notices",
    "notice_candidates",
    "objections",
    "objectors",
    "commitments",
    "commitment_schedules",
    "commentary",
    "briefings",
    "public_messages",
    "sender_limits",  # 12.7: per-sender limits
    "sender_lists",  # 12.8/12.9: what was listed to whom
    "featured_deeds",  # issue 13: 典型
    "console_sessions",  # issue 14: signed-in organisers
    "console_codes",  # issue 14: one-time sign-in codes
    "audit_log",  # issue 14: who did what in the console
    "wechat_quota",  # issue 16: WeChat's per-follower limits, kept locally
    "platform_limits",  # issue 16: messages a platform's limit kept back, and why
    "message_counts",  # issue 15: what retention removed, counted
    "rate_slots",  # issue 15: one send rate per channel for the deployment
}
# PostgreSQL only (issue 15): the keys partitioned tables cannot hold unique themselves.
PG_TABLES = {"inbound_keys", "outbox_keys"}
ORG = {"code": "HX", "name": "和兴县委", "kind": "county"}


async def tables(db: Database, schema: str | None = None) -> set[str]:
    if db.dialect == "sqlite":
        rows = await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetch(  # partitions are the partitioned table's, not tables
            "SELECT table_name AS name FROM information_schema.tables t "
            "WHERE table_schema = COALESCE(:schema, current_schema()) AND NOT EXISTS "
            "(SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = t.table_name AND n.nspname = t.table_schema AND c.relispartition)",
            {"schema": schema},
        )
    return {r["name"] for r in rows}


def expected(db: Database) -> set[str]:
    return TABLES | (PG_TABLES if db.dialect == "postgresql" else set())


def test_head_is_alembics_single_head():
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]


async def test_ensure_schema_creates_every_table(db_url):
    db = await open_database(db_url)
    try:
        assert await tables(db) == set()
        assert await current_revision(db) is None
        await ensure_schema(db)
        assert await tables(db) == expected(db)
        assert await current_revision(db) == HEAD
    finally:
        await db.close()


async def test_ensure_schema_on_a_current_database_is_a_no_op(db_url, monkeypatch):
    repos = await open_repositories(db_url)
    try:
        await repos.orgs.upsert_many([ORG], NOW)

        async def no_upgrade(*args: object, **kwargs: object) -> None:
            raise AssertionError("ensure_schema upgraded a current database")

        monkeypatch.setattr(storage.migrate, "upgrade", no_upgrade)
        await ensure_schema(repos.db)
        assert [o.code for o in await repos.orgs.all()] == ["HX"]
    finally:
        await repos.db.close()
    reopened = await open_repositories(db_url)  # ensure_schema runs again, still no upgrade
    try:
        assert [o.code for o in await reopened.orgs.all()] == ["HX"]
    finally:
        await reopened.db.close()


async def test_upgrade_in_place_keeps_existing_rows(db_url):
    db = await open_database(db_url)  # a database that already holds someone's data
    try:
        await db.write("CREATE TABLE notes (body TEXT)")
        await db.write("INSERT INTO notes (body) VALUES ('kept')")
    finally:
        await db.close()
    await upgrade(db_url)
    repos = await open_repositories(db_url)
    try:
        assert await current_revision(repos.db) == HEAD
        await repos.orgs.upsert_many([ORG], NOW)
    finally:
        await repos.db.close()
    repos = await open_repositories(db_url)
    try:
        assert await tables(repos.db) == expected(repos.db) | {"notes"}
        assert await repos.db.fetchval("SELECT body FROM notes") == "kept"
        assert [o.name for o in await repos.orgs.all()] == ["和兴县委"]
    finally:
        await repos.db.close()


async def test_sqlite_is_in_wal_mode(sqlite_url):
    repos = await open_repositories(sqlite_url)
    await repos.db.close()
    conn = sqlite3.connect(sqlite_url.split("///", 1)[1])  # a fresh connection: it persists
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_search_path_puts_tables_in_that_schema(db_url):
    plain, schema = split_search_path(db_url)
    assert schema and "search_path" not in plain
    repos = await open_repositories(db_url)
    try:
        assert await repos.db.fetchval("SELECT current_schema() AS s") == schema
        assert await tables(repos.db, schema) == expected(repos.db)
    finally:
        await repos.db.close()
