"""Linking identities: a Telegram user shares their phone number (or a WeChat follower proves
it with a code sent by SMS: handlers/binding.py), and becomes the person the roster knows by
it, so reports by SMS and by the chat count for one member."""

from __future__ import annotations

from bot.messages import Address, AddressKind
from bot.polls import voter_hash
from handlers.base import Context, Message, Route


def link_first(ctx: Context) -> str:
    """The text telling a chat that is nobody on the roster yet how to become its member:
    Telegram shares its contact, a chat that cannot (WeChat) binds by a code."""
    telegram = ctx.sender.address.kind is AddressKind.TELEGRAM
    return "deed.link_first" if telegram else "deed.bind_first"


async def ask_to_link(msg: Message, ctx: Context) -> None:
    kind = ctx.sender.address.kind
    if kind is AddressKind.TELEGRAM:
        ctx.reply("link.ask", ask_contact=True)
    elif kind is AddressKind.SMS:
        ctx.reply("link.not_here")
    else:  # a chat that cannot share a contact: a code by SMS proves the number
        ctx.reply("bind.how")


async def link_contact(msg: Message, ctx: Context) -> None:
    """The channel has checked the contact is the sender's own; "" means it was not."""
    phone = msg.inbound.contact
    if not phone:
        ctx.reply("link.refused", ask_contact=True)
        return
    await link_phone(ctx, phone)


async def link_phone(ctx: Context, phone: str) -> None:
    """Make the sender's chat an address of the person holding `phone`, which the sender
    has shown to be theirs, and say so."""
    before = ctx.sender.person_id
    answered = await ctx.repos.polls.answered_open(before) if before is not None else []
    linked = await ctx.repos.people.link(
        ctx.sender.address, Address(AddressKind.SMS, phone), ctx.now()
    )
    record = await ctx.repos.people.resolve(ctx.sender.address)
    after = record.person_id
    if before is not None and after is not None and after != before:
        # Two people became one: what the chat answered joins the phone's answer, the
        # later of the two counting once (participation is merged by `link`).
        key = ctx.settings.secret_key
        for poll in answered:
            await ctx.repos.polls.rekey(
                poll, voter_hash(key, poll, before), voter_hash(key, poll, after)
            )
    if not linked:
        ctx.reply("link.already", phone=phone)
    elif record.name:
        ctx.reply("link.done_named", name=record.name, phone=phone)
    else:
        ctx.reply("link.done", phone=phone)


ROUTES = [Route("link", ask_to_link, zh=("绑定", "bd"), en=("link",), whole=True)]
CONTACT_ROUTE = Route("link.contact", link_contact)
