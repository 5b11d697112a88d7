"""Telegram through python-telegram-bot: updates in (webhook or polling), messages out.

This module knows Telegram and nothing of the campaign. An update becomes an `Inbound`
(commands become the same keywords SMS users type, a button press becomes the choice's
key, a shared contact becomes a phone number to link), a note that the user blocked the
bot, or nothing at all for the kinds the bot does not use.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels.base import Failure, SendError, SendResult
from bot.config import TelegramSection
from bot.messages import Address, AddressKind, Attachment, Channel, Inbound, Outbound
from bot.phones import to_e164

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
MAX_TEXT = 4096  # Telegram's limit for one message
MAX_CALLBACK_DATA = 64  # bytes
CHOICE_PREFIX = "c:"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]

# Commands, as the keywords an SMS user would type in each language.
COMMANDS = {
    "help": ("帮助", "HELP"),
    "report": ("汇报", "REPORT"),
    "me": ("查询", "ME"),
    "stop": ("退订", "STOP"),
    "link": ("绑定", "LINK"),
}


@dataclass(frozen=True, slots=True)
class Blocked:
    """The user blocked the bot: stop sending to this chat."""

    address: Address


@dataclass(frozen=True, slots=True)
class Unblocked:
    """The user unblocked the bot: sending may resume."""

    address: Address


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


@dataclass(frozen=True, slots=True)
class Received:
    inbound: Inbound
    callback_id: str | None = None  # a button press to acknowledge


Conversion = Received | Blocked | Unblocked | Ignored


def app_language(code: str | None) -> str | None:
    """Telegram's language_code ("zh-hans", "en") as one of ours, if it is one."""
    if not code or not isinstance(code, str):
        return None
    code = code.lower()
    return "en" if code.startswith("en") else "zh-CN" if code.startswith("zh") else None


def command_text(text: str, language: str | None) -> str:
    """'/report 修好了路灯' → '汇报 修好了路灯'; '/start HX0101' (a deep link) → '加入 HX0101';
    '/start' → '绑定' (a new Telegram user is first offered to link their phone)."""
    if not text.startswith("/"):
        return text
    head, _, rest = text.partition(" ")
    command = head[1:].split("@", 1)[0].lower()
    english = language == "en"
    if command == "start":
        if rest.strip():
            return f"{'JOIN' if english else '加入'} {rest.strip()}"
        command = "link"
    if command not in COMMANDS:
        return text  # unknown: the router says it did not understand
    keyword = COMMANDS[command][1 if english else 0]
    return f"{keyword} {rest}".strip()


class Malformed(ValueError):
    """An update whose fields are not of the types Telegram sends."""


def _chat_id(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed("a chat id that is not an integer")
    return str(value)


def _text(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Malformed("text that is not a string")
    return value


def convert(update: Update, received_at: datetime) -> Conversion:
    """What an update means for the bot; Malformed if its fields are not what Telegram
    sends (python-telegram-bot does not check types)."""
    if update.my_chat_member is not None:
        member = update.my_chat_member
        address = Address(AddressKind.TELEGRAM, _chat_id(member.chat.id))
        if member.new_chat_member.status == "kicked":
            return Blocked(address)
        if member.old_chat_member.status == "kicked" and member.chat.type == "private":
            return Unblocked(address)  # they came back: as START would
        return Ignored("chat member change")
    if update.callback_query is not None:
        query = update.callback_query
        data = _text(query.data) or ""
        if not data.startswith(CHOICE_PREFIX) or query.message is None:
            return Ignored("button the bot did not make")
        chat = _chat_id(query.message.chat.id)
        language = app_language(query.from_user.language_code)
        inbound = Inbound(
            Channel.TELEGRAM,
            str(update.update_id),
            Address(AddressKind.TELEGRAM, chat),
            data[len(CHOICE_PREFIX) :],
            received_at,
            language=language,
        )
        return Received(inbound, query.id)
    message = update.message
    if message is None:  # edited messages, channel posts, and kinds not yet invented
        return Ignored("update kind not used")
    if message.chat.type != "private":
        return Ignored("group chat")
    sender = Address(AddressKind.TELEGRAM, _chat_id(message.chat.id))
    user = message.from_user
    language = app_language(user.language_code if user else None)
    if message.contact is not None:
        own = user is not None and message.contact.user_id == user.id
        # Telegram gives the number in international form, usually without the "+".
        number = (_text(message.contact.phone_number) or "").strip()
        phone = to_e164(number if number.startswith("+") else "+" + number) if own else None
        contact = phone or ""  # "" tells the handler the contact was not the sender's
        return Received(
            Inbound(
                Channel.TELEGRAM,
                str(update.update_id),
                sender,
                "",
                received_at,
                language=language,
                contact=contact,
            )
        )
    text = _text(message.text) or _text(message.caption)
    # A photo is kept by reference (its largest size); the words, if any, are its caption.
    attachments = (
        (Attachment(f"telegram:{message.photo[-1].file_id}", "image/jpeg"),)
        if message.photo
        else ()
    )
    if text is None and not attachments:
        return Ignored("sticker or other message without text")
    return Received(
        Inbound(
            Channel.TELEGRAM,
            str(update.update_id),
            sender,
            command_text(text or "", language),
            received_at,
            attachments=attachments,
            language=language,
        )
    )


def build_bot(settings: TelegramSection, token: str) -> Bot:
    """The python-telegram-bot client, pointed at settings.api_base_url (Telegram, a
    self-hosted Bot API server, or the tests' local fake)."""
    return Bot(
        token,
        base_url=f"{settings.api_base_url}/bot",
        base_file_url=f"{settings.api_base_url}/file/bot",
    )


def _markup(message: Outbound) -> Any:
    if message.choices:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(choice.label, callback_data=_callback_data(choice.key))]
                for choice in message.choices
            ]
        )
    if message.ask_contact:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(message.ask_contact, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return None


def _callback_data(key: str) -> str:
    data = (CHOICE_PREFIX + key).encode()[:MAX_CALLBACK_DATA]
    return data.decode(errors="ignore")


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break where there is one."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [piece for piece in (*pieces, text) if piece.strip()] or [text]


def _classify(error: TelegramError) -> SendError:
    if isinstance(error, RetryAfter):
        wait = error.retry_after
        seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
        return SendError(Failure.TRANSIENT, "429", str(error), retry_after=seconds)
    if isinstance(error, Forbidden):  # "bot was blocked by the user" and its kin
        return SendError(Failure.OPTED_OUT, "403", error.message)
    if isinstance(error, BadRequest):
        if "chat not found" in error.message.lower():
            return SendError(Failure.INVALID_ADDRESS, "400", error.message)
        return SendError(Failure.REJECTED, "400", error.message)
    if isinstance(error, NetworkError):  # timeouts and 5xx: try again later
        return SendError(Failure.TRANSIENT, None, error.message)
    return SendError(Failure.REJECTED, None, error.message)


class TelegramSender:
    """The Telegram channel adapter for the outbox and for direct replies."""

    kind = AddressKind.TELEGRAM
    channel = "telegram"

    def __init__(self, bot: Bot, on_migrate: Callable[[str, str], Awaitable[None]]) -> None:
        self.bot = bot
        self._on_migrate = on_migrate  # a group became a supergroup: store its new id

    async def send(self, message: Outbound) -> SendResult:
        chat = message.to.value
        pieces = split_text(message.body)
        sent = None
        for i, piece in enumerate(pieces):
            markup = _markup(message) if i == len(pieces) - 1 else None
            try:
                try:
                    sent = await self.bot.send_message(chat, piece, reply_markup=markup)
                except ChatMigrated as moved:
                    new_chat = str(moved.new_chat_id)
                    await self._on_migrate(chat, new_chat)
                    chat = new_chat
                    sent = await self.bot.send_message(chat, piece, reply_markup=markup)
            except TelegramError as error:
                failure = _classify(error)
                if i:  # earlier pieces were delivered: only the rest is left
                    failure = SendError(
                        failure.failure,
                        failure.code,
                        failure.detail,
                        failure.retry_after,
                        unsent="\n".join(pieces[i:]),
                    )
                raise failure from None
        assert sent is not None
        return SendResult(f"{sent.chat.id}:{sent.message_id}", "sent")

    async def answer_callback(self, callback_id: str) -> None:
        try:
            await self.bot.answer_callback_query(callback_id)
        except TelegramError as error:  # the button stops spinning on its own; no harm
            log.info("answerCallbackQuery failed: %s", error)

    async def close(self) -> None:
        await self.bot.shutdown()
