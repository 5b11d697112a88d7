"""Notices (通知 / TZ / NOTICE): a secretary broadcasts to their own branch from the phone,
and members turn the daily nudge off and on (不提醒 / 提醒)."""

from __future__ import annotations

from bot.normalize import has_words
from bot.segments import count_segments
from bot.texts import LANGUAGES, texts_for
from handlers.base import Context, Message, Route
from handlers.permissions import Action, home_grants
from storage.models import Role

NOTICE_AUDIENCE = (Role.MEMBER, Role.SECRETARY, Role.PUBLIC)


async def notice(msg: Message, ctx: Context) -> None:
    grants = home_grants(ctx, Action.NOTICE)
    if not grants:
        ctx.reply("broadcast.not_allowed")  # names the role needed: secretary
        return
    if not has_words(msg.args):
        ctx.reply("broadcast.empty")
        return
    branch = grants[0]
    now = ctx.now()
    # The secretary's words, signed with the branch's name so villagers know who speaks.
    signed = {
        lang: texts_for(lang).get("broadcast.signed", org=branch.org_name, text=msg.args)
        for lang in LANGUAGES
    }
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="notice",
        texts=signed,
        default_language=ctx.settings.language,
        now=now,
        root_org_id=branch.org_id,
        roles=NOTICE_AUDIENCE,
        source=f"message:{msg.id}",  # handled again after a crash: the same broadcast
        body=msg.args,
        role="all",
        created_by=ctx.sender.person_id,
        # A secretary speaks to the branch; a leader to the organisations they lead.
        include_subtree=branch.role != Role.SECRETARY,
        exclude_person=ctx.sender.person_id,
    )
    if count == 0:
        ctx.reply("broadcast.nobody", org=branch.org_name)
        return
    ctx.reply(
        "broadcast.queued",
        count=count,
        segments=count_segments(signed[ctx.settings.language]).segments,
        id=broadcast,
    )


async def nudges_off(msg: Message, ctx: Context) -> None:
    await _set_nudges(ctx, False)


async def nudges_on(msg: Message, ctx: Context) -> None:
    await _set_nudges(ctx, True)


async def _set_nudges(ctx: Context, on: bool) -> None:
    if not home_grants(ctx, Action.NUDGES) or ctx.sender.person_id is None:
        ctx.reply("deed.not_member")
        return
    await ctx.repos.people.set_nudges(ctx.sender.person_id, on)
    ctx.reply("nudge.on" if on else "nudge.off")


ROUTES = [
    # Not touching: "通知了全体党员..." is a secretary's report, not a notice to send.
    Route("notice", notice, zh=("通知", "tz"), en=("notice",), touching=False),
    Route("nudge.off", nudges_off, zh=("不提醒", "btx"), en=("nudge off",), whole=True),
    Route("nudge.on", nudges_on, zh=("提醒", "tx"), en=("nudge on",), whole=True),
]
