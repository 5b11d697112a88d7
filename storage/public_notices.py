"""Public notices (公示) of shortlists, objections (异议) and outcomes."""

from __future__ import annotations

from storage.engine import Database


class PublicNoticeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
