"""Alembic migrations. HEAD names the newest revision; a test keeps it equal to Alembic's."""

HEAD = "0015"  # after 0016 (console sessions, on main first): the lead re-chains
