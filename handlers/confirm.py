"""Asking 确认 before something that cannot be taken back (a poll sent to a village, a long
notice, a commendation despite objections): the words that answer, and the buttons.

The question is asked back (Context.ask_back) with a payload; the resumer of its kind reads
the answer with `answer_of`: anything but 确认 or 取消 goes its normal way.
"""

from __future__ import annotations

from enum import Enum

from bot.messages import Choice
from handlers.base import Context, Message

# No bare digits: "1" may be an answer to a poll that arrived meanwhile.
CONFIRM_WORDS = frozenset({"确认", "确定", "qr", "ok", "yes"})
CANCEL_WORDS = frozenset({"取消", "qx", "cancel", "no"})


class Answer(Enum):
    CONFIRM = "confirm"
    CANCEL = "cancel"


def answer_of(msg: Message) -> Answer | None:
    """确认 or 取消 (and their pinyin and English forms), else None: not an answer."""
    word = msg.text.folded.strip(" 。.!！")
    if word in CONFIRM_WORDS:
        return Answer.CONFIRM
    if word in CANCEL_WORDS:
        return Answer.CANCEL
    return None


def buttons(ctx: Context) -> tuple[Choice, ...]:
    """确认 and 取消 as buttons where the channel has them (SMS shows the question only)."""
    yes, no = ctx.texts.get("confirm.yes"), ctx.texts.get("confirm.no")
    return (Choice(yes, yes), Choice(no, no))
