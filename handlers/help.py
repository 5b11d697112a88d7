"""Help (帮助 / BZ / HELP / ?): what this sender may do, one SMS a page.

Page 1 lists a role's most used commands and ends with how to get page 2 (帮助2 / BZ2 /
HELP2 / 更多), which has the rest. A stranger's example code is a real one of this
deployment (handlers.registration.example_code), never the demo's.
"""

from __future__ import annotations

from handlers import paging
from handlers.base import Context, Message, Route
from handlers.registration import example_code
from storage.models import Role

HELP_KEYS = {
    None: "help.stranger",
    Role.PUBLIC: "help.public",
    Role.MEMBER: "help.member",
    Role.SECRETARY: "help.secretary",
    Role.LEADER: "help.leader",
    Role.ADMIN: "help.admin",
}
MORE_KEYS = {role: key.replace("help.", "help.more.", 1) for role, key in HELP_KEYS.items()}


def help_key(ctx: Context) -> str:
    return HELP_KEYS[ctx.sender.primary_role]


async def help_text(ctx: Context, page: int = 1) -> str:
    """A help page for this sender's role, in their language."""
    role = ctx.sender.primary_role
    if page > 1:
        return ctx.texts.get(MORE_KEYS[role])
    if role is None:
        if code := await example_code(ctx):
            return ctx.texts.get("help.stranger", code=code)
        return ctx.texts.get("help.stranger_ask")
    return ctx.texts.get(HELP_KEYS[role])


async def show_help(msg: Message, ctx: Context) -> None:
    ctx.say(await help_text(ctx))


async def show_more(msg: Message, ctx: Context) -> None:
    # 更多 / MORE first continues the list the sender asked for last (handlers/paging.py).
    if msg.keyword in ("更多", "more") and await paging.say_next(ctx):
        return
    ctx.say(await help_text(ctx, page=2))


async def not_understood(msg: Message, ctx: Context) -> None:
    """The default for text no keyword claimed that is not a member's report: everyday
    words and a villager's message to the branch (handlers/public_messages.py), else say
    it was not understood, then what the sender can do."""
    from handlers import public_messages  # it answers with help_text, from here

    if await public_messages.unclaimed(msg, ctx):
        return
    prefix = ctx.texts.get("help.empty" if msg.text.is_empty else "help.unknown")
    ctx.say(prefix + await help_text(ctx))


ROUTES = [
    Route("help", show_help, zh=("帮助", "bz", "?"), en=("help", "info"), whole=True),
    # Page 2, as people ask for it: 帮助2, "帮助 2", BZ2, 更多, HELP2, "help 2", MORE.
    Route(
        "help.more",
        show_more,
        zh=("帮助2", "帮助 2", "帮助二", "bz2", "bz 2", "更多", "更多帮助"),
        en=("help2", "help 2", "more", "help more"),
        whole=True,
    ),
]
