"""WeChat's per-follower sending limits, kept locally so the outbox knows before trying.

The platform lets an account send customer-service messages to a follower within 48 hours
of the follower's last message, 5 at most in that time; outside it, only pushes (template
messages, or mass sends: at most 4 a month per follower for a service account). The last
message is read from the inbound log by its sender (ix_inbound_sender_time: a follower's
first message, the subscribe that made them a person, has no person on its row yet); what
was sent since is counted in wechat_quota as sends succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.engine import Database, as_datetime

WINDOW = timedelta(hours=48)
CS_PER_WINDOW = 5


@dataclass(frozen=True, slots=True)
class Standing:
    """What was sent to one follower lately: `last_message` is theirs (None: none in the
    last 48 hours); `cs_sent` counts customer-service messages since it, `pushes` this
    month's sends outside the window."""

    last_message: datetime | None
    cs_sent: int
    pushes: int


class WeChatWindowRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def standing(self, openid: str, now: datetime, month: str) -> Standing | None:
        """None for a follower the roster does not know (no person behind the OpenID): the
        platform alone can say, and says it when asked."""
        row = await self.db.fetchrow(
            """
            SELECT a.person_id,
                   (SELECT MAX(m.received_at) FROM inbound_messages m
                    WHERE m.sender_kind = a.kind AND m.sender = a.value
                      AND m.received_at > :since) AS last_message,
                   q.window_from, q.cs_sent, q.push_month, q.pushes
            FROM addresses a LEFT JOIN wechat_quota q ON q.openid = a.value
            WHERE a.kind = 'wechat' AND a.value = :openid
            """,
            {"openid": openid, "since": now - WINDOW},
        )
        if row is None or row["person_id"] is None:
            return None
        last = as_datetime(row["last_message"])
        counted_from = as_datetime(row["window_from"])
        same_window = last is not None and counted_from is not None and counted_from >= last
        return Standing(
            last_message=last,
            cs_sent=int(row["cs_sent"] or 0) if same_window else 0,
            pushes=int(row["pushes"] or 0) if row["push_month"] == month else 0,
        )

    async def count_cs(
        self, openid: str, window_from: datetime, *, sent: int = 1, used_up: bool = False
    ) -> None:
        """`sent` customer-service messages (a long text goes in pieces) sent in the window
        opened by `window_from`; or, with `used_up`, the platform said its count is spent."""
        await self.db.write(
            """
            INSERT INTO wechat_quota (openid, window_from, cs_sent, pushes)
            VALUES (:openid, :from, :sent, 0)
            ON CONFLICT (openid) DO UPDATE SET
                cs_sent = CASE WHEN :used_up THEN :sent
                               WHEN wechat_quota.window_from = :from
                               THEN wechat_quota.cs_sent + :sent ELSE :sent END,
                window_from = :from
            """,
            {
                "openid": openid,
                "from": window_from,
                "sent": CS_PER_WINDOW if used_up else sent,
                "used_up": used_up,
            },
        )

    async def count_push(self, openid: str, month: str) -> None:
        await self.db.write(
            """
            INSERT INTO wechat_quota (openid, cs_sent, push_month, pushes)
            VALUES (:openid, 0, :month, 1)
            ON CONFLICT (openid) DO UPDATE SET
                pushes = CASE WHEN wechat_quota.push_month = :month
                              THEN wechat_quota.pushes + 1 ELSE 1 END,
                push_month = :month
            """,
            {"openid": openid, "month": month},
        )
