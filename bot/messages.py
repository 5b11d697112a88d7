"""Channel-neutral message types: what adapters produce and what handlers answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AddressKind(StrEnum):
    """How a person is reached. The console sandbox speaks as an SMS number."""

    SMS = "sms"
    TELEGRAM = "telegram"
    WECHAT = "wechat"


class Channel(StrEnum):
    """The transport a message came through; it namespaces provider ids."""

    SMS = "sms"
    TELEGRAM = "telegram"
    CONSOLE = "console"
    WECHAT = "wechat"


@dataclass(frozen=True, slots=True)
class Address:
    kind: AddressKind
    value: str  # E.164 for SMS, chat id for Telegram

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class Attachment:
    url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: Channel
    provider_id: str  # unique per channel: MessageSid, update_id, console uuid
    sender: Address
    body: str
    received_at: datetime
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None  # what the sender's app says they read (Telegram)
    contact: str | None = None  # a phone number the sender shared as their own (E.164)


@dataclass(frozen=True, slots=True)
class Choice:
    """An option offered to the person: a button on Telegram, a numbered line on SMS."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Outbound:
    to: Address
    body: str
    choices: tuple[Choice, ...] = field(default=())
    ask_contact: str | None = None  # label of a "share my phone number" button, where possible
    # What any stored copy (the message log, the outbox) says instead of `body`: a direct
    # reply may echo what no row may pair with the person, such as a ballot's choice.
    redacted: str | None = None

    @property
    def stored_body(self) -> str:
        return self.body if self.redacted is None else self.redacted
