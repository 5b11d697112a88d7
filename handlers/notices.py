"""Notices (通知 / TZ / NOTICE): a secretary broadcasts to their own branch from the phone,
and members turn the daily nudge off and on (不提醒 / 提醒).

    通知 周五晚七点开党员大会          queued; in SMS quiet hours the reply says when it lands
    通知 急 明早七点停水 / 紧急通知 ...  urgent: SMS go out during quiet hours too
    (longer than two SMS)              the cost is shown first and 确认 sends it, 取消 not
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.normalize import has_words
from bot.quiet import quiet_until
from bot.reach import by_sms, chats_text
from bot.segments import count_segments
from bot.texts import LANGUAGES, texts_for
from handlers import confirm
from handlers.base import Context, Message, Route
from handlers.limits import within
from handlers.permissions import Action, home_grants
from storage import audience
from storage.models import Role

NOTICE_AUDIENCE = (Role.MEMBER, Role.SECRETARY, Role.PUBLIC)
_DEFAULT_ROLES = tuple(r.value for r in NOTICE_AUDIENCE)
# Longer than this many SMS segments, a notice shows its cost and waits for 确认.
CONFIRM_SEGMENTS = 2
# "通知 急 明早七点停水", "通知 紧急：...": urgent, as 紧急通知. A separator must follow, so
# that "通知 急需志愿者" stays an ordinary notice.
_URGENT = re.compile(r"(?:急|紧急|加急|urgent)(?:[\s:：,，!！]+)")


@dataclass(frozen=True, slots=True)
class Draft:
    """A notice on its way: what the preview and the 确认 that follows both send."""

    org_id: int
    org_name: str
    text: str
    urgent: bool
    include_subtree: bool  # a leader speaks to the organisations they lead
    source: str | None  # handled again after a crash: the same broadcast
    roles: tuple[str, ...] = _DEFAULT_ROLES  # who it reaches


@dataclass(frozen=True, slots=True)
class Queued:
    """A notice queued: its broadcast, how many messages, SMS segments each, and when it
    lands if quiet hours hold its SMS (None: now, or urgent)."""

    broadcast: int
    count: int
    segments: int
    held_until: datetime | None


async def notice(msg: Message, ctx: Context) -> None:
    await _notice(msg, ctx, urgent=False)


async def urgent_notice(msg: Message, ctx: Context) -> None:
    await _notice(msg, ctx, urgent=True)


async def _notice(msg: Message, ctx: Context, urgent: bool) -> None:
    grants = home_grants(ctx, Action.NOTICE)
    if not grants:
        ctx.reply("broadcast.not_allowed")  # names the role needed: secretary
        return
    text = msg.args
    flag = _URGENT.match(msg.text.folded, msg.args_at)
    if flag is not None:
        urgent, text = True, msg.text.original_from(flag.end())
    if not has_words(text):
        ctx.reply("broadcast.empty")
        return
    branch = grants[0]
    draft = Draft(
        org_id=branch.org_id,
        org_name=branch.org_name,
        text=text,
        urgent=urgent,
        include_subtree=branch.role != Role.SECRETARY,
        source=f"message:{msg.id}",
    )
    reach_now = await reach(ctx, draft)
    segments = segments_of(ctx, draft)
    if not any(reach_now.values()):
        ctx.reply("broadcast.nobody", org=draft.org_name)
        return
    if segments > CONFIRM_SEGMENTS:
        sms = by_sms(reach_now)
        ctx.say(
            ctx.texts.get(
                "notice.preview",
                segments=segments,
                sms=sms,
                cost=segments * sms,
                chats=chats_text(ctx.texts, reach_now),
            ),
            choices=confirm.buttons(ctx),
        )
        await ctx.ask_back("notice.confirm", dataclasses.asdict(draft))
        return
    await _send(ctx, draft, reach_now)


async def resume_confirm(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """确认 sends the long notice previewed; 取消 drops it; anything else goes its way."""
    answer = confirm.answer_of(msg)
    if answer is None:
        return False
    draft = Draft(**{**payload, "roles": tuple(payload.get("roles") or _DEFAULT_ROLES)})
    if answer is confirm.Answer.CANCEL:
        ctx.reply("notice.cancelled")
        return True
    if all(g.org_id != draft.org_id for g in home_grants(ctx, Action.NOTICE)):
        ctx.reply("broadcast.not_allowed")  # no longer the branch's secretary
        return True
    await _send(ctx, draft, await reach(ctx, draft))
    return True


def signed(draft: Draft) -> dict[str, str]:
    # The secretary's words, signed with the branch's name so villagers know who speaks.
    return {
        lang: texts_for(lang).get("broadcast.signed", org=draft.org_name, text=draft.text)
        for lang in LANGUAGES
    }


def _roles_label(roles: tuple[str, ...]) -> str:
    """What broadcasts.role records (16 characters at most): "all" for 通知's audience,
    else the roles' first three letters, "mem+pub"."""
    return "all" if roles == _DEFAULT_ROLES else "+".join(r[:3] for r in roles)


def segments_of(ctx: Context, draft: Draft) -> int:
    """SMS segments one message of the notice costs, as sent in the default language."""
    return count_segments(signed(draft)[ctx.settings.language]).segments


async def reach(ctx: Context, draft: Draft) -> dict[str, int]:
    """Who the notice reaches, per channel (the sender left out)."""
    return await audience.reach(
        ctx.repos.db,
        root_org_id=draft.org_id,
        roles=[Role(r) for r in draft.roles],
        include_subtree=draft.include_subtree,
        exclude_person=ctx.sender.person_id,
    )


def held_until(ctx: Context, draft: Draft, reach: dict[str, int], now: datetime) -> datetime | None:
    """When quiet hours let the notice's SMS go, if they hold them now (urgent: never)."""
    if draft.urgent or not reach.get("sms"):
        return None
    return quiet_until(now, ctx.settings.quiet, ctx.settings.zone)


async def send(ctx: Context, draft: Draft, reach: dict[str, int]) -> Queued | None:
    """Queue the notice: the one implementation behind 通知 by SMS and the console's send.
    None when the sender's daily limit is spent (ctx has the polite answer)."""
    if not await within(ctx, "notice"):
        return None
    now = ctx.now()
    texts = signed(draft)
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="notice",
        texts=texts,
        default_language=ctx.settings.language,
        now=now,
        root_org_id=draft.org_id,
        roles=[Role(r) for r in draft.roles],
        source=draft.source,
        body=draft.text,
        role=_roles_label(draft.roles),
        created_by=ctx.sender.person_id,
        include_subtree=draft.include_subtree,
        exclude_person=ctx.sender.person_id,
        urgent=draft.urgent,
    )
    return Queued(broadcast, count, segments_of(ctx, draft), held_until(ctx, draft, reach, now))


async def _send(ctx: Context, draft: Draft, reach: dict[str, int]) -> None:
    queued = await send(ctx, draft, reach)
    if queued is None:
        return
    count, segments, broadcast = queued.count, queued.segments, queued.broadcast
    if count == 0:
        ctx.reply("broadcast.nobody", org=draft.org_name)
        return
    # Quiet hours hold SMS back (the dispatcher does); the sender must know when it lands.
    if draft.urgent:
        ctx.reply("notice.queued_urgent", count=count, segments=segments, id=broadcast)
    elif queued.held_until is not None:
        ctx.reply(
            "notice.queued_quiet",
            count=count,
            segments=segments,
            id=broadcast,
            when=when_text(ctx, queued.held_until, ctx.now()),
        )
    else:
        ctx.reply("broadcast.queued", count=count, segments=segments, id=broadcast)


def when_text(ctx: Context, at: datetime, now: datetime) -> str:
    """今天 21:00 / 明天 08:00: when a held notice lands, in the reader's words."""
    zone = ctx.settings.zone
    day = at.astimezone(zone).date()
    key = "notice.today" if day == now.astimezone(zone).date() else "notice.tomorrow"
    return ctx.texts.get(key, time=at.astimezone(zone).strftime("%H:%M"))


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
    Route(
        "notice.urgent",
        urgent_notice,
        zh=("紧急通知", "急通知", "jjtz"),
        en=("urgent notice",),
        touching=False,
    ),
    Route("nudge.off", nudges_off, zh=("不提醒", "btx"), en=("nudge off",), whole=True),
    Route("nudge.on", nudges_on, zh=("提醒", "tx"), en=("nudge on",), whole=True),
]
RESUMERS = {"notice.confirm": resume_confirm}
