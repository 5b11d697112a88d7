"""The browser sandbox's SMS channel: where no SMS provider is configured, /sandbox is the
phone. A message "sent" here is delivered nowhere: the outbox row, marked sent with its
segment count, is the record the page reads (in the database, so every worker and every tab
sees it). Installed only by `serve` with the sandbox on and no [twilio] (see App.open)."""

from __future__ import annotations

import uuid

from bot.channels.base import SendResult, plain_text
from bot.messages import AddressKind, Outbound
from bot.segments import count_segments

# The provider id prefix and status of a message the sandbox "delivered": the outbox says
# plainly that nobody's phone received it.
PROVIDER_PREFIX = "sandbox-"
STATUS = "sandbox"


class SandboxSender:
    kind = AddressKind.SMS
    channel = "console"  # [outbox.rate] console: no provider's limits apply

    async def send(self, message: Outbound) -> SendResult:
        cost = count_segments(plain_text(message))  # what the SMS would have cost
        # Unique across workers and restarts, as a provider's message id is.
        return SendResult(
            f"{PROVIDER_PREFIX}{uuid.uuid4().hex}", STATUS, cost.segments, cost.encoding
        )

    async def close(self) -> None:
        return None
