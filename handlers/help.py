"""Help (帮助 / BZ / HELP / ?): what this sender may do, in two SMS segments at most."""

from __future__ import annotations

from handlers.base import Context, Message, Route
from storage.models import Role

HELP_KEYS = {
    None: "help.stranger",
    Role.PUBLIC: "help.public",
    Role.MEMBER: "help.member",
    Role.SECRETARY: "help.secretary",
    Role.LEADER: "help.leader",
    Role.ADMIN: "help.admin",
}


def help_key(ctx: Context) -> str:
    return HELP_KEYS[ctx.sender.primary_role]


async def show_help(msg: Message, ctx: Context) -> None:
    ctx.reply(help_key(ctx))


async def not_understood(msg: Message, ctx: Context) -> None:
    """The default for text no keyword claimed that is not a member's report: everyday
    words and a villager's message to the branch (handlers/public_messages.py), else say
    it was not understood, then what the sender can do."""
    from handlers import public_messages  # it answers with help_key, from here

    if await public_messages.unclaimed(msg, ctx):
        return
    ctx.reply_joined("help.empty" if msg.text.is_empty else "help.unknown", help_key(ctx))


ROUTES = [Route("help", show_help, zh=("帮助", "bz", "?"), en=("help", "info"), whole=True)]
