"""Finding 12.1: on PostgreSQL every ballot and comment was paired with its voter by plain
SELECT: one transaction wrote the ballot, the participant row, the comment and the
message's redaction, so they shared xmin; the heap's order (ctid) and transaction order
replayed who answered what. Here eight villagers answer in turn, each with a comment, the
poll closes, and every join a reader of the database could try, on every pair of tables,
finds nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import App
from tests.test_poll_privacy import PICKED_IN_TURN, eight_villagers_answer_in_turn
from tests.test_polls import advance, sweep

# What was said, and what names a person (or an address), as a reader would join them.
SAID = {"ballots": "choice", "comments": "body"}
NAMES = {
    "poll_participants": "person_id",
    "inbound_messages": "sender",
    "outbox": "address",
    "people": "id",
    "addresses": "value",
    "pending_comments": "id",
    "sealed_ballots": "voter",
}


async def closed_with_eight(app: App) -> list[str]:
    in_turn = await eight_villagers_answer_in_turn(app)
    advance(app, timedelta(days=8))
    await sweep(app)
    db = app.repos.db
    assert await db.fetchval("SELECT COUNT(*) FROM ballots") == 8
    assert await db.fetchval("SELECT COUNT(*) FROM comments") == 8
    assert await db.fetchval("SELECT COUNT(*) FROM sealed_ballots") == 0
    assert await db.fetchval("SELECT COUNT(*) FROM pending_comments") == 0
    return in_turn


async def test_no_transaction_id_pairs_what_was_said_with_who(county: App):
    db = county.repos.db
    if db.dialect != "postgresql":
        pytest.skip("SQLite rows carry no transaction id")
    await closed_with_eight(county)
    for said, what in SAID.items():
        said_in = {r["x"] for r in await db.fetch(f"SELECT DISTINCT xmin::text AS x FROM {said}")}
        assert len(said_in) == 1, said  # all written out together
        for names, who in NAMES.items():
            paired = await db.fetch(
                f"SELECT s.{what}, n.{who} FROM {said} s JOIN {names} n ON n.xmin = s.xmin"
            )
            assert [dict(r) for r in paired] == [], (said, names)
    # Nor with each other: ballots and comments went out in different transactions.
    assert not await db.fetch("SELECT 1 FROM ballots b JOIN comments c ON c.xmin = b.xmin")


async def test_no_order_pairs_what_was_said_with_who(county: App):
    """Rows read in the order they lie on disk, or in transaction order, against the order
    people answered (the participants', the log's and the outbox's own order)."""
    db = county.repos.db
    in_turn = await closed_with_eight(county)
    orders = [""]
    if db.dialect == "postgresql":
        orders = [" ORDER BY ctid", " ORDER BY xmin::text::bigint, ctid"]
    for by in orders:
        choices = [r["choice"] for r in await db.fetch(f"SELECT choice FROM ballots{by}")]
        assert sorted(choices) == list(range(8))
        assert choices != PICKED_IN_TURN, by
        assert choices != PICKED_IN_TURN[::-1], by
        bodies = [r["body"] for r in await db.fetch(f"SELECT body FROM comments{by}")]
        assert sorted(bodies) == sorted(in_turn)
        assert bodies != in_turn and bodies != in_turn[::-1], by
