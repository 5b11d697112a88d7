"""One send rate per channel for the whole deployment: a schedule of sending time in the
database, from which every dispatcher of every worker reserves its next sends.

A reservation of `count` sends at `rate` per second takes the next `count / rate` seconds
of the channel's schedule: from where the last reservation ended, or from now when the
channel was idle. Reservations never overlap, whichever process or host asked, so all the
workers' sends together keep to the rate. Time is the database's clock, so hosts whose
clocks disagree still share one schedule. A reservation its holder does not use (it died,
or ran out of messages) is lost: the rate is undershot for a moment, never exceeded.
"""

from __future__ import annotations

from storage.engine import Database

# Seconds since the epoch by the database's clock, fixed for the statement.
_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "EXTRACT(EPOCH FROM statement_timestamp())::float8",
}
_LATER = {"sqlite": "MAX", "postgresql": "GREATEST"}


class RateSlots:
    def __init__(self, db: Database) -> None:
        self.db = db
        now, later = _NOW[db.dialect], _LATER[db.dialect]
        self._reserve = f"""
            INSERT INTO rate_slots (channel, next_at) VALUES (:channel, {now} + :span)
            ON CONFLICT (channel) DO UPDATE
                SET next_at = {later}(rate_slots.next_at, {now}) + :span
            RETURNING next_at - :span - {now} AS wait
        """

    async def reserve(self, channel: str, count: int, rate: float) -> float:
        """Reserve `count` sends on `channel` at `rate` per second: the seconds from now
        until the first of them (0 or less: at once); the others follow 1/rate apart."""
        rows = await self.db.write(self._reserve, {"channel": channel, "span": count / rate})
        return float(rows[0]["wait"])
