"""Sending one queued message and recording how it went.

The dispatcher (rate limits, claiming, quiet hours) builds on `deliver`; what a provider's
answer means for the address is decided here, once for every channel.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.channels.base import ChannelSender, Failure, SendError
from bot.messages import Address, AddressKind, Choice, Outbound
from bot.privacy import mask_phone
from storage.repositories import Repositories

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # sent, retry, failed, skipped
    detail: str = ""


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with full jitter; a provider's Retry-After is a floor."""
    ceiling = BASE_BACKOFF * (2 ** min(attempt, 10))
    delay = timedelta(seconds=random.uniform(0, ceiling.total_seconds()))
    return max(delay, timedelta(seconds=retry_after or 0))


async def deliver(
    repos: Repositories, senders: dict[AddressKind, ChannelSender], outbox_id: int, now: datetime
) -> Outcome:
    row = await repos.outbox.get(outbox_id)
    if row is None or row["status"] != "pending":
        return Outcome("skipped", "not pending")
    address = Address(AddressKind(row["address_kind"]), row["address"])
    sender = senders.get(address.kind)
    if sender is None:
        return Outcome("skipped", f"no {address.kind} channel configured")
    record = await repos.people.resolve(address)
    if record.opted_out_at is not None:
        await repos.outbox.mark_failed(
            outbox_id, code=None, error="opted out", retry_at=None, now=now
        )
        return Outcome("failed", "opted out")
    choices = tuple(Choice(c["key"], c["label"]) for c in json.loads(row["choices"] or "[]"))
    try:
        result = await sender.send(Outbound(address, row["body"], choices))
    except SendError as error:
        return await _record_failure(repos, outbox_id, address, row["attempts"], error, now)
    await repos.outbox.mark_sent(
        outbox_id,
        provider_id=result.provider_id,
        channel_status=result.channel_status,
        segments=result.segments,
        encoding=result.encoding,
        now=now,
    )
    return Outcome("sent", result.provider_id)


async def _record_failure(
    repos: Repositories,
    outbox_id: int,
    address: Address,
    attempts: int,
    error: SendError,
    now: datetime,
) -> Outcome:
    if error.failure is Failure.OPTED_OUT:
        await repos.people.opt_out(address, now)  # the provider's record wins over ours
    elif error.failure is Failure.INVALID_ADDRESS:
        await repos.people.mark_invalid(address, now)
    retry = error.failure is Failure.TRANSIENT and attempts + 1 < MAX_ATTEMPTS
    retry_at = now + backoff(attempts, error.retry_after) if retry else None
    await repos.outbox.mark_failed(
        outbox_id, code=error.code, error=error.detail[:500], retry_at=retry_at, now=now
    )
    log.info(
        "outbox %s to %s: %s (%s)%s",
        outbox_id,
        mask_phone(address.value),
        error.failure,
        error.code,
        " will retry" if retry else "",
    )
    return Outcome("retry" if retry else "failed", f"{error.failure}:{error.code}")
