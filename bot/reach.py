"""A broadcast's reach as the organiser reads it before saying 确认: counted once, by
storage/audience.reach (the outbox's own choice of address), then said the same way by every
door — 评议 and 通知 in a chat or by SMS, `grassroots poll create`, the console's previews.

SMS is always named: it is what costs. A chat channel (Telegram, WeChat: nothing to pay per
message) is named only when someone is reached on it. The SMS previews have a segment budget
(tests/test_catalog_lengths.py): a deployment without WeChat, or without Telegram, does not pay
for "微信0人" in every preview, and each chat channel added later costs words only where it
has followers."""

from __future__ import annotations

from collections.abc import Mapping

from bot.messages import AddressKind
from bot.texts import Texts

# Every way of reaching a person but SMS, in the order a preview names them.
CHATS: tuple[AddressKind, ...] = tuple(k for k in AddressKind if k is not AddressKind.SMS)


def by_sms(reach: Mapping[str, int]) -> int:
    return reach.get(AddressKind.SMS.value, 0)


def chats(reach: Mapping[str, int]) -> list[tuple[str, int]]:
    """(kind, people) for each chat channel that reaches someone."""
    return [(kind.value, reach[kind.value]) for kind in CHATS if reach.get(kind.value)]


def chats_text(texts: Texts, reach: Mapping[str, int]) -> str:
    """The chat part of a preview, e.g. "；Telegram 3人，微信2人", or "" when the whole
    audience is reached by SMS. It carries its own lead, so a template ends "…{chats}。"."""
    named = [texts.get(f"reach.{kind}", n=n) for kind, n in chats(reach)]
    if not named:
        return ""
    return texts.get("reach.lead") + texts.get("list.separator").join(named)
