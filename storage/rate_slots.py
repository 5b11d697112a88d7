"""One send rate per channel for the whole deployment: a schedule of sending time in the
database, from which every dispatcher of every worker reserves its next sends.

A reservation of `count` sends at `rate` per second takes the next `count / rate` seconds
of the channel's schedule: from where the last reservation ended, or from the time asked
for when the channel was idle (a moment ago, at the dispatcher's choice). Reservations
never overlap, whichever process or host asked, so all the workers' sends together keep to
the rate. Times are seconds since the epoch by the reserving process's clock: exact between
the workers of one host, and as close as NTP keeps several hosts (milliseconds). A
reservation its holder does not use (it died, or ran out of messages) is lost: the rate is
undershot for a moment, never exceeded.
"""

from __future__ import annotations

from storage.engine import Database

_LATER = {"sqlite": "MAX", "postgresql": "GREATEST"}


class RateSlots:
    def __init__(self, db: Database) -> None:
        self.db = db
        later = _LATER[db.dialect]
        now, span = "CAST(:now AS DOUBLE PRECISION)", "CAST(:span AS DOUBLE PRECISION)"
        self._reserve = f"""
            INSERT INTO rate_slots (channel, next_at) VALUES (:channel, {now} + {span})
            ON CONFLICT (channel) DO UPDATE
                SET next_at = {later}(rate_slots.next_at, {now}) + {span}
            RETURNING next_at - {span} AS start
        """

    async def reserve(self, channel: str, count: int, rate: float, earliest: float) -> float:
        """Reserve `count` sends on `channel` at `rate` per second, from `earliest` (a
        time.time()) at the soonest: when the first of them may go; the others follow
        1/rate apart."""
        rows = await self.db.write(
            self._reserve, {"channel": channel, "span": count / rate, "now": earliest}
        )
        return float(rows[0]["start"])
