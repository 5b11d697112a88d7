"""Leaders' commentary on branches (点评) and briefings to the public (通报)."""

from __future__ import annotations

from storage.engine import Database


class CommentaryRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
