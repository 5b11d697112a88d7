"""Alembic migrations. HEAD names the newest revision; a test keeps it equal to Alembic's."""

HEAD = "0018"  # here 0016 -> 0015 (h2) -> 0018 (h6), so that this branch migrates: re-chained
