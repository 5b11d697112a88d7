"""WeChat's sending limits, known before asking the platform.

`LimitedSender` wraps the WeChat channel's sender: a follower outside the 48-hour window
(since their last message), or sent the 5 customer-service messages that window allows, or
over this month's pushes, is refused locally with `Failure.PLATFORM_LIMIT` (code "window",
"count" or "quota"), exactly as the platform would refuse (45015, 45047, ...), so the
outbox's one failure path (bot/fallback.py) sends by SMS instead. What is sent is counted;
what the platform refuses anyway is remembered. A follower the roster does not know has no
bookkeeping: the platform decides.

What may be pushed outside the window depends on the account ([wechat] account,
template_id): a subscription account pushes nothing to one follower (its one mass send a day
goes to everyone); a verified service account with a template sends template messages
(no per-follower cap); a service account without one has mass sends, 4 a month per follower.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.channels.base import ChannelSender, Failure, SendError, SendResult
from bot.clock import Clock
from bot.messages import AddressKind, Outbound
from storage.engine import Database
from storage.wechat_window import CS_PER_WINDOW, WINDOW, Standing, WeChatWindowRepository

MASS_PER_MONTH = 4
PLATFORM_ZONE = ZoneInfo("Asia/Shanghai")  # the platform's months are Beijing's
# The platform's answers that mean "no more customer-service messages to this follower until
# they write again": out of the 48-hour window (45015), over its count (45047). The sender
# maps these (and account-wide limits such as 45009) to PLATFORM_LIMIT with the code.
WINDOW_CODES = {"45015": "window", "45047": "count"}


@dataclass(frozen=True, slots=True)
class WeChatLimits:
    """None: no per-follower cap on pushes (template messages); 0: no pushes at all."""

    pushes_per_month: int | None = 0

    @classmethod
    def for_account(cls, account: str, template_id: str = "") -> WeChatLimits:
        if account != "service":
            return cls(0)
        return cls(None) if template_id else cls(MASS_PER_MONTH)


@dataclass(frozen=True, slots=True)
class Verdict:
    mode: str | None  # "cs", "push", or None: refused
    reason: str | None = None  # why refused: window, count, quota


def judge(standing: Standing, now: datetime, limits: WeChatLimits) -> Verdict:
    """How a message may reach a follower now, or why it may not."""
    open_window = standing.last_message is not None and now - standing.last_message < WINDOW
    if open_window and standing.cs_sent < CS_PER_WINDOW:
        return Verdict("cs")
    cap = limits.pushes_per_month
    if cap is None or standing.pushes < cap:
        return Verdict("push")
    if cap == 0:
        return Verdict(None, "count" if open_window else "window")
    return Verdict(None, "quota")


def month_of(now: datetime) -> str:
    return now.astimezone(PLATFORM_ZONE).strftime("%Y-%m")


class LimitedSender:
    """A ChannelSender for WeChat that keeps the platform's limits before sending."""

    kind = AddressKind.WECHAT

    def __init__(
        self, inner: ChannelSender, db: Database, clock: Clock, limits: WeChatLimits
    ) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.window = WeChatWindowRepository(db)
        self.clock = clock
        self.limits = limits

    async def send(self, message: Outbound) -> SendResult:
        openid, now = message.to.value, self.clock.now()
        month = month_of(now)
        standing = await self.window.standing(openid, now, month)
        if standing is None:
            return await self.inner.send(message)
        verdict = judge(standing, now, self.limits)
        if verdict.mode is None:
            raise SendError(
                Failure.PLATFORM_LIMIT, verdict.reason, f"known locally: {verdict.reason}"
            )
        try:
            result = await self.inner.send(message)
        except SendError as error:
            spent = error.failure is Failure.PLATFORM_LIMIT and error.code in WINDOW_CODES
            if spent and standing.last_message is not None:
                # The platform knows better: this window is spent for customer service.
                await self.window.count_cs(openid, standing.last_message, used_up=True)
            raise
        if verdict.mode == "cs":
            assert standing.last_message is not None
            # A long text goes as several customer-service messages (segments, if said).
            await self.window.count_cs(openid, standing.last_message, sent=result.segments or 1)
        else:
            await self.window.count_push(openid, month)
        return result

    async def close(self) -> None:
        await self.inner.close()
