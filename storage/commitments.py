"""Public commitments (公开承诺) and their progress."""

from __future__ import annotations

from storage.engine import Database


class CommitmentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
