"""The console channel: a terminal or a pipe speaks as one phone number, no credentials."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from typing import TextIO

from bot.channels.base import plain_text
from bot.clock import Clock
from bot.messages import Address, Channel, Inbound
from bot.router import Router
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
) -> int:
    """Send each input line as one message and print the replies. Returns lines sent."""
    sent = 0
    loop = asyncio.get_running_loop()
    while True:
        if prompt:
            prompt()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return sent
        body = line.rstrip("\r\n")
        replies = await router.handle(console_inbound(sender, body, clock))
        sent += 1
        for reply in replies:
            print(plain_text(reply), file=stdout, flush=True)
        if not replies:
            print(
                texts_for(router.settings.language).get("console.no_reply"), file=stdout, flush=True
            )
