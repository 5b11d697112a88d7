"""The console channel: a terminal or a pipe speaks as one phone number, no credentials."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.channels.base import SendResult, plain_text
from bot.clock import Clock
from bot.messages import Address, AddressKind, Channel, Inbound, Outbound
from bot.privacy import mask_phone
from bot.router import Router
from bot.segments import count_segments
from bot.texts import texts_for


def console_inbound(
    sender: Address, body: str, clock: Clock, provider_id: str | None = None
) -> Inbound:
    return Inbound(
        channel=Channel.CONSOLE,
        provider_id=provider_id or uuid.uuid4().hex,
        sender=sender,
        body=body,
        received_at=clock.now(),
    )


async def run_console(
    router: Router,
    sender: Address,
    clock: Clock,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    prompt: Callable[[], None] | None = None,
    before: Callable[[], Awaitable[object]] | None = None,
) -> int:
    """Send each input line as one message and print the replies; `before` runs before
    each (the scheduler's sweeps, where no `serve` runs them). Returns lines sent."""
    sent = 0
    loop = asyncio.get_running_loop()
    while True:
        if prompt:
            prompt()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return sent
        body = line.rstrip("\r\n")
        if before is not None:
            await before()
        replies = await router.handle(console_inbound(sender, body, clock))
        sent += 1
        for reply in replies:
            print(plain_text(reply), file=stdout, flush=True)
        if not replies:
            print(
                texts_for(router.settings.language).get("console.no_reply"), file=stdout, flush=True
            )


class ConsoleSender:
    """The sandbox's outbound channel: messages for SMS numbers are shown, not sent."""

    kind = AddressKind.SMS
    channel = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._count = 0

    async def send(self, message: Outbound) -> SendResult:
        self._count += 1
        stream = self._stream or sys.stdout
        print(f"[→ {mask_phone(message.to.value)}] {plain_text(message)}", file=stream, flush=True)
        cost = count_segments(plain_text(message))
        return SendResult(f"console-{self._count}", "delivered", cost.segments, cost.encoding)

    async def close(self) -> None:
        return None
