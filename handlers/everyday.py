"""Everyday words no keyword claims: acknowledgements, thanks and greetings get a short
answer and stay in the message log only; questions about the service get help.

The rules themselves (whole-message grammars) are in bot/everyday.py.
"""

from __future__ import annotations

from bot.everyday import everyday_kind, is_usage_question
from handlers.base import Context, Message
from handlers.help import help_text


async def answer(msg: Message, ctx: Context) -> bool:
    """Answer an acknowledgement or a question about the service; True if it was one."""
    folded = msg.text.folded
    if is_usage_question(folded):
        ctx.handled_as = "help.usage"
        ctx.say(await help_text(ctx))
        return True
    kind = everyday_kind(folded)
    if kind is None or msg.inbound.attachments:  # a photo says more than "OK"
        return False
    ctx.handled_as = f"everyday.{kind.value}"
    if not ctx.sender.grants:
        ctx.say(await help_text(ctx))  # a stranger's "你好": how to join is the useful answer
    else:
        ctx.reply(f"everyday.{kind.value}")
    return True
