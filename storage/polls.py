"""Polls (群众评议): creation, anonymous ballots, turnout and results."""

from __future__ import annotations

from storage.engine import Database


class PollRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
