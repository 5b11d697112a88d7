"""What every channel adapter offers the outbox: send one message, say how it went."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.messages import AddressKind, Outbound


class Failure(StrEnum):
    TRANSIENT = "transient"  # try again later: rate limited, provider down
    OPTED_OUT = "opted_out"  # the recipient unsubscribed or blocked us: never again
    INVALID_ADDRESS = "invalid_address"  # no such number or chat: never again
    REJECTED = "rejected"  # anything else: recorded with its code, not retried
    # The platform's sending limits for this recipient (WeChat's 48-hour window, its quotas):
    # try another channel.
    PLATFORM_LIMIT = "platform_limit"


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str
    channel_status: str  # the provider's status right after accepting
    segments: int | None = None
    encoding: str | None = None


class SendError(Exception):
    def __init__(
        self,
        failure: Failure,
        code: str | None,
        detail: str,
        retry_after: float | None = None,
        unsent: str | None = None,
    ) -> None:
        super().__init__(f"{failure}: {code or '-'}: {detail}")
        self.failure = failure
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        # A long message went out in pieces and failed part way: only this part is left to
        # send, so a retry must not repeat what was delivered.
        self.unsent = unsent


class ChannelSender(Protocol):
    """An adapter that can deliver to one kind of address."""

    kind: AddressKind
    channel: str  # which [outbox.rate] applies: sms, telegram, console

    async def send(self, message: Outbound) -> SendResult: ...

    async def close(self) -> None: ...


def plain_text(message: Outbound) -> str:
    """A message as a basic phone shows it: the text, then any choices as a numbered list,
    so that the reply "2" means the second choice on every channel without buttons."""
    lines = [message.body]
    lines += [f"{i}. {choice.label}" for i, choice in enumerate(message.choices, start=1)]
    return "\n".join(lines)
