"""Recommendations of model members (推荐), counted per member and round."""

from __future__ import annotations

from storage.engine import Database


class RecommendationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
