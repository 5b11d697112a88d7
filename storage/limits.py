"""Per-sender limits, taken atomically (issue 12.7).

A limit counted from finished messages lets a burst through: forty messages arriving
together all see the count before any of them is stored. Here each use takes a slot in
one statement (INSERT ... ON CONFLICT DO UPDATE ... RETURNING) before the work is done,
so the 41st concurrent message sees 41 whatever the timing, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.engine import Database

# Counters older than this are dropped as the same sender takes a new slot.
_KEEP_WINDOWS = 2


class LimitRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def take(self, sender: str, action: str, now: datetime, window: timedelta) -> int:
        """Take one use of `action` by `sender` (an opaque key) in the window holding `now`;
        returns how many uses the window holds now, this one included."""
        length = int(window.total_seconds())
        current = int(now.timestamp()) // length
        rows = await self.db.write(
            """
            INSERT INTO sender_limits (sender, action, bucket, used)
            VALUES (:sender, :action, :bucket, 1)
            ON CONFLICT (sender, action, bucket) DO UPDATE
                SET used = sender_limits.used + 1
            RETURNING used
            """,
            {"sender": sender, "action": action, "bucket": current},
        )
        if rows[0]["used"] == 1:  # a new window: forget this sender's old ones
            await self.db.write(
                "DELETE FROM sender_limits WHERE sender = :sender AND action = :action "
                "AND bucket < :old",
                {"sender": sender, "action": action, "old": current - _KEEP_WINDOWS},
            )
        return int(rows[0]["used"])
