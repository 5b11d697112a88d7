"""Sending one queued message and recording how it went.

What a provider's answer means for the address is decided here, once for every channel:
opted out and invalid addresses are marked and never tried again, transient failures come
back later with exponential backoff and jitter, anything else is recorded as failed.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.channels.base import ChannelSender, Failure, SendError
from bot.fallback import reroute
from bot.messages import Address, AddressKind, Choice, Outbound
from bot.privacy import mask_phone
from storage.repositories import Repositories

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # sent, retry, failed, skipped (left waiting as it was)
    detail: str = ""


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with full jitter; a provider's Retry-After is a floor."""
    ceiling = BASE_BACKOFF * (2 ** min(attempt, 10))
    delay = timedelta(seconds=random.uniform(0, ceiling.total_seconds()))
    return max(delay, timedelta(seconds=retry_after or 0))


def outbound_of(row: dict[str, Any]) -> Outbound:
    address = Address(AddressKind(row["address_kind"]), row["address"])
    choices = tuple(Choice(c["key"], c["label"]) for c in json.loads(row["choices"] or "[]"))
    return Outbound(address, row["body"], choices, ask_contact=row.get("ask_contact"))


async def deliver(
    repos: Repositories,
    senders: dict[AddressKind, ChannelSender],
    outbox_id: int,
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Outcome:
    """Send one queued message now, whatever its time (for tools and tests)."""
    row = await repos.outbox.get(outbox_id)
    if row is None or row["status"] not in ("pending", "sending"):
        return Outcome("skipped", "not pending")
    return await send_row(repos, senders, row, now, max_attempts)


async def send_row(
    repos: Repositories,
    senders: dict[AddressKind, ChannelSender],
    row: dict[str, Any],
    now: datetime,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Outcome:
    message = outbound_of(row)
    sender = senders.get(message.to.kind)
    if sender is None:
        # Not a failure of the message: a process with that channel configured sends it.
        await repos.outbox.unclaim(row["id"], now)
        return Outcome("skipped", f"no {message.to.kind} channel configured in this process")
    record = await repos.people.resolve(message.to)
    # An answer to what the person just sent is delivered even so: it may be the very
    # confirmation of their STOP. Anything else is not sent once they have said STOP.
    is_reply = str(row["idempotency_key"]).startswith("reply:")
    if record.opted_out_at is not None and not is_reply:
        await repos.outbox.mark_failed(
            row["id"], code=None, error="opted out", retry_at=None, now=now, count_attempt=False
        )
        return Outcome("failed", "opted out")
    try:
        result = await sender.send(message)
    except SendError as error:
        return await _record_failure(repos, row, message.to, error, now, max_attempts)
    await repos.outbox.mark_sent(
        row["id"],
        provider_id=result.provider_id,
        channel_status=result.channel_status,
        segments=result.segments,
        encoding=result.encoding,
        now=now,
    )
    return Outcome("sent", result.provider_id)


async def _record_failure(
    repos: Repositories,
    row: dict[str, Any],
    address: Address,
    error: SendError,
    now: datetime,
    max_attempts: int,
) -> Outcome:
    if error.failure is Failure.PLATFORM_LIMIT:  # another channel may reach them
        return Outcome("failed", await reroute(repos, row, error, now))
    if error.failure is Failure.OPTED_OUT:
        await repos.people.opt_out(address, now)  # the provider's record wins over ours
    elif error.failure is Failure.INVALID_ADDRESS:
        await repos.people.mark_invalid(address, now)
    retry = error.failure is Failure.TRANSIENT and row["attempts"] + 1 < max_attempts
    retry_at = now + backoff(row["attempts"], error.retry_after) if retry else None
    if error.unsent is not None:  # part was delivered: what is retried is the rest
        await repos.outbox.set_body(row["id"], error.unsent, now)
    await repos.outbox.mark_failed(
        row["id"], code=error.code, error=error.detail[:500], retry_at=retry_at, now=now
    )
    log.info(
        "outbox %s to %s: %s (%s)%s",
        row["id"],
        mask_phone(address.value),
        error.failure,
        error.code,
        " will retry" if retry else "",
    )
    return Outcome("retry" if retry else "failed", f"{error.failure}:{error.code}")
