"""Per-sender limits on what one sender can make the bot do (issue 12.7).

Each use takes a slot atomically (storage/limits.py) before the work is done, so forty
concurrent messages from one number get exactly `limit` through. The sender is keyed by
an HMAC under the deployment's secret (their person, else their address): the counter
table names no one, so it cannot tell who commented or objected when.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta

from handlers.base import Context, Settings

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# action -> (window, the limit in settings, the polite answer when over)
LIMITS: dict[str, tuple[timedelta, Callable[[Settings], int], str]] = {
    "comment": (HOUR, lambda s: s.comments_per_hour, "poll.comment_limit"),
    "object": (HOUR, lambda s: s.objections_per_hour, "limit.objections"),
    "recommend": (HOUR, lambda s: s.recommendations_per_hour, "limit.recommendations"),
    "notice": (DAY, lambda s: s.notices_per_day, "limit.notices"),
    "briefing": (DAY, lambda s: s.briefings_per_day, "limit.briefings"),
}


def sender_key(ctx: Context) -> str:
    """The same for every address of one person (SMS and a linked Telegram chat)."""
    sender = ctx.sender
    who = (
        f"person:{sender.person_id}"
        if sender.person_id is not None
        else f"address:{sender.address.kind.value}:{sender.address.value}"
    )
    key = b"sender-limits:" + ctx.settings.secret_key
    return hmac.new(key, who.encode(), hashlib.sha256).hexdigest()


async def take(ctx: Context, action: str) -> bool:
    """Take one use of `action` for the sender: False when the window's limit is spent."""
    window, limit_of, _ = LIMITS[action]
    used = await ctx.repos.limits.take(sender_key(ctx), action, ctx.now(), window)
    return used <= limit_of(ctx.settings)


async def within(ctx: Context, action: str) -> bool:
    """`take`, answering politely (one segment) when over: the caller then does nothing."""
    if await take(ctx, action):
        return True
    _, limit_of, over = LIMITS[action]
    ctx.reply(over, limit=limit_of(ctx.settings))
    return False
