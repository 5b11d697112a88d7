"""When a platform's limit keeps a message from a chat: send it by SMS instead.

Called from the outbox's one failure path (bot/outbox.py) for `Failure.PLATFORM_LIMIT`: a
WeChat follower outside the customer-service window, over its count or over the month's
pushes (known locally: bot/wechat_limits.py, or said by the platform). The message goes to
the person's usable phone on the roster, in the same broadcast, and the limit is recorded
with its reason for `broadcast status` and the console; without a phone it ends failed with
that reason. Never retried on the chat: the limit lasts until the follower writes again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.channels.base import SendError
from bot.privacy import mask_phone
from bot.texts import Texts
from bot.wechat_limits import WINDOW_CODES
from storage import platform_limits
from storage.repositories import Repositories

log = logging.getLogger(__name__)

LOCAL_REASONS = ("window", "count", "quota")  # codes bot/wechat_limits.py refuses with


async def reroute(repos: Repositories, row: dict[str, Any], error: SendError, now: datetime) -> str:
    """Record the limit and queue the SMS copy; the outcome's detail."""
    local = error.code in LOCAL_REASONS
    reason = str(error.code) if local else WINDOW_CODES.get(str(error.code), "platform")
    done = await platform_limits.reroute(
        repos.db,
        row,
        reason=reason,
        code=None if local else error.code,
        detail=error.detail,
        now=now,
    )
    log.info(
        "outbox %s to %s %s: platform limit (%s, %s); %s",
        row["id"],
        row["address_kind"],
        mask_phone(row["address"]),
        reason,
        error.code,
        f"by SMS as outbox {done.fallback_id}" if done.fallback_id else "no phone to fall back to",
    )
    return f"platform_limit:{reason}" + (f":sms#{done.fallback_id}" if done.fallback_id else "")


def limit_lines(texts: Texts, counts: Sequence[platform_limits.LimitCount]) -> list[str]:
    """Why a broadcast's chat recipients were not reached, one line per kind and reason."""
    return [
        texts.get(
            "channels.limit.line",
            channel=texts.get(f"channels.limit.{c.kind}"),
            n=c.total,
            reason=texts.get(f"channels.limit.{c.reason}"),
            by_sms=c.by_sms,
        )
        for c in counts
    ]
