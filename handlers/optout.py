"""Opt-out and back (退订 / 订阅), matching the carriers' and Twilio's whole-message words."""

from __future__ import annotations

from handlers.base import Context, Message, Route

# Twilio's default opt-out and opt-in keywords, so our record never disagrees with theirs.
STOP_WORDS_EN = ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout")
START_WORDS_EN = ("start", "yes", "unstop")


async def stop(msg: Message, ctx: Context) -> None:
    if await ctx.repos.people.opt_out(ctx.sender.address, ctx.now()):
        ctx.reply("optout.stopped")
    else:  # said again: they wonder whether it worked; one short line says it did
        ctx.reply("optout.already_off")


async def start(msg: Message, ctx: Context) -> None:
    if await ctx.repos.people.opt_in(ctx.sender.address):
        ctx.reply("optout.resumed")
    else:
        ctx.reply("optout.already_on")


ROUTES = [
    Route("optout.stop", stop, zh=("td", "退订"), en=STOP_WORDS_EN, whole=True),
    Route("optout.start", start, zh=("订阅",), en=START_WORDS_EN, whole=True),
]
