"""Comments from the public on a poll or a branch, stored without their author."""

from __future__ import annotations

from storage.engine import Database


class CommentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
