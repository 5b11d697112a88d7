"""Scheduler bookkeeping: which jobs ran for which period, and who holds the scheduler."""

from __future__ import annotations

from datetime import datetime

from storage.engine import Database


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def has_run(self, key: str) -> bool:
        return (
            await self.db.fetchval("SELECT 1 AS x FROM job_runs WHERE key = :k", {"k": key})
            is not None
        )

    async def record(self, key: str, now: datetime) -> bool:
        """Note that a job ran for its period. False if it had already been noted."""
        rows = await self.db.write(
            "INSERT INTO job_runs (key, ran_at) VALUES (:k, :now) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            {"k": key, "now": now},
        )
        return bool(rows)

    async def acquire(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew a lease. True while `holder` holds it; another holder gets it only
        once the lease has run out (its process stopped renewing)."""
        rows = await self.db.write(
            """
            INSERT INTO locks (name, holder, expires_at) VALUES (:name, :holder, :until)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_at = excluded.expires_at
            WHERE locks.holder = excluded.holder OR locks.expires_at < :now
            RETURNING holder
            """,
            {"name": name, "holder": holder, "until": until, "now": now},
        )
        return bool(rows)

    async def release(self, name: str, holder: str) -> None:
        await self.db.write(
            "DELETE FROM locks WHERE name = :name AND holder = :holder",
            {"name": name, "holder": holder},
        )
