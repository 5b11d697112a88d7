"""Villagers' messages to their branch (群众留言), and the secretary's list (留言 / LY /
MESSAGES).

What a villager sends that no keyword or open poll claims is kept for their branch, unless
it is an acknowledgement or a question about the service (handlers/everyday.py). It is not
anonymous: the villager writes so that the branch can answer, so the secretary sees the
name and a masked number; the reply says so, and points to 评论 for an anonymous view.
"""

from __future__ import annotations

import unicodedata
from zoneinfo import ZoneInfo

from bot.messages import AddressKind
from bot.privacy import mask_phone
from bot.segments import count_segments
from handlers import everyday
from handlers.base import Context, Message, Route
from handlers.linking import link_first
from handlers.permissions import Action, allowed, require_home
from storage.models import Grant, Role
from storage.public_messages import PublicMessage

LIST_SEGMENTS = 2  # the list fits two SMS
BODY_CHARS = 30  # a long message is cut in the list; the CLI and database keep it whole
FETCH = 20  # more than two segments can ever show


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(c)[0] == "L" for c in text)


async def unclaimed(msg: Message, ctx: Context) -> bool:
    """Take text no keyword claimed from someone whose free text is not a report: everyday
    words, a Telegram chat not yet linked, a villager's message. False: nobody's (help)."""
    if msg.text.folded.startswith("/"):
        return False  # an unknown command
    if await everyday.answer(msg, ctx):
        return True
    attachments = msg.inbound.attachments
    if not ctx.sender.grants and ctx.sender.address.kind is not AddressKind.SMS:
        if _has_letters(msg.text.folded) or attachments:
            ctx.handled_as = "link.first"
            ctx.reply(link_first(ctx))  # a member not linked yet, or a villager to join
            return True
        return False
    if _branch_of(ctx) is not None and (_has_letters(msg.text.folded) or attachments):
        await keep(msg, ctx, msg.text.original_from(0))
        return True
    return False


def _branch_of(ctx: Context) -> Grant | None:
    """Where a message no keyword claimed goes: a villager's branch, or the branch of a
    member who asked a question there ("明天几点开会": their reports go elsewhere). A
    secretary would write to themselves, and leaders have no branch to write to."""
    public = ctx.sender.grants_with(Role.PUBLIC)
    if public:
        return public[0]
    own = {g.org_id for g in ctx.sender.grants_with(Role.SECRETARY)}
    members = [g for g in ctx.sender.grants_with(Role.MEMBER) if g.org_id not in own]
    return members[0] if members else None


async def keep(msg: Message, ctx: Context, body: str) -> None:
    grant = _branch_of(ctx)
    assert grant is not None  # unclaimed and the 留言 keyword check first
    person = ctx.sender.person_id
    ctx.handled_as = "public_message"
    limit = ctx.settings.comments_per_hour
    if (
        person is not None
        and await ctx.repos.public_messages.recent_from(person, ctx.now()) >= limit
    ):
        ctx.reply("public_message.limit", limit=limit)
        return
    attachments = msg.inbound.attachments
    await ctx.repos.public_messages.add(
        org_id=grant.org_id,
        person_id=person,
        inbound_id=msg.id,
        body=body,
        attachment_url=attachments[0].url if attachments else None,
        now=ctx.now(),
    )
    ctx.reply("public_message.kept", org=grant.org_name)


async def command(msg: Message, ctx: Context) -> None:
    """留言 <text> from a villager (or a member) is a message; 留言 alone lists them for the
    secretary."""
    if msg.args and _branch_of(ctx) is not None:
        await keep(msg, ctx, msg.args)
        return
    await listing(msg, ctx)


async def listing(msg: Message, ctx: Context) -> None:
    grant = require_home(ctx, Action.MODERATE_COMMENTS)
    if grant is None:
        return
    orgs = await ctx.repos.orgs.subtree_ids(grant.org_id)
    found, total = await ctx.repos.public_messages.latest(orgs, limit=FETCH)
    if not found:
        ctx.reply("public_message.none", org=grant.org_name)
        return
    zone = ctx.zone_of(grant)
    separator = ctx.texts.get("public_message.separator")
    items: list[str] = []
    body = ""
    for message in found:
        candidate = [*items, _item(ctx, message, zone)]
        more = total - len(candidate)
        text = ctx.texts.get(
            "public_message.listing", org=grant.org_name, items=separator.join(candidate)
        ) + (ctx.texts.get("public_message.more", count=more) if more else "")
        if items and count_segments(text).segments > LIST_SEGMENTS:
            break
        items, body = candidate, text
    await ctx.repos.public_messages.mark_read([m.id for m in found[: len(items)]])
    ctx.say(body)


def _item(ctx: Context, message: PublicMessage, zone: ZoneInfo) -> str:
    local = message.created_at.astimezone(zone)
    # A Chinese mobile without its +86: the list has little room.
    phone = mask_phone(message.phone).removeprefix("+86") if message.phone else None
    who = f"{message.name}({phone})" if message.name and phone else message.name or phone
    text = message.body or ctx.texts.get("public_message.photo")
    if len(text) > BODY_CHARS:
        text = text[: BODY_CHARS - 1] + "…"
    return ctx.texts.get(
        "public_message.item",
        when=ctx.texts.get("public_message.when", month=local.month, day=local.day),
        who=who or ctx.texts.get("public_message.someone"),
        body=text,
    )


async def mark_read(ctx: Context, message_id: int) -> bool:
    """Mark one message read, as listing it by SMS does, if the sender may read the messages
    left for its branch; False (as for none at all) otherwise."""
    org_id = await ctx.repos.public_messages.org_of(message_id)
    if org_id is None or not await allowed(ctx, Action.MODERATE_COMMENTS, org_id):
        return False
    await ctx.repos.public_messages.mark_read([message_id])
    return True


ROUTES = [Route("public_message.list", command, zh=("留言", "ly"), en=("messages",))]
