"""Deed reports, the main daily action: 汇报 <text> / HB / REPORT, or a member's free text.

The category (五带头) comes from a #tag, a leading number 1-5, or keywords in the text. A
tag #C3 (or #承诺3) says which of the member's commitments (公开承诺) the deed advances.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bot.clock import week_start
from bot.everyday import dedupe_key, everyday_kind, is_usage_question
from bot.messages import AddressKind
from bot.normalize import has_words
from handlers import everyday
from handlers.base import Context, Message, Resumer, Route
from handlers.linking import link_first
from handlers.permissions import Action, home_grants
from storage.commitments import code_of
from storage.models import CATEGORIES, Category, Grant

# Tags and keywords are matched on the folded (NFKC, case-folded) text.
TAGS: dict[str, Category] = {
    **dict.fromkeys(("学习", "学习提高", "study", "xx"), Category.STUDY),
    **dict.fromkeys(("佳绩", "争创佳绩", "业绩", "achievement", "jj"), Category.ACHIEVEMENT),
    **dict.fromkeys(("服务", "服务群众", "service", "fw"), Category.SERVICE),
    **dict.fromkeys(("守法", "遵纪守法", "纪律", "discipline", "law", "sf"), Category.DISCIPLINE),
    **dict.fromkeys(("正气", "弘扬正气", "integrity", "zq"), Category.INTEGRITY),
}
KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.STUDY: ("学习", "培训", "读书", "党课", "study", "training"),
    Category.ACHIEVEMENT: ("致富", "增收", "产业", "项目", "佳绩", "harvest", "project"),
    Category.SERVICE: ("帮", "服务", "看望", "慰问", "走访", "群众", "help", "visit"),
    Category.DISCIPLINE: ("守法", "纪律", "调解", "普法", "law", "discipline"),
    Category.INTEGRITY: ("正气", "见义勇为", "举报", "移风易俗", "integrity"),
}
_TAG = re.compile(r"#\s*([^\s#,.;:!?，。；：！？]+)")
# A leading 1-5 followed by a separator: "3 看望老人", "3、看望老人" but not "3户" or "30".
_LEADING_NUMBER = re.compile(r"^([1-5])(?:[\s.,:、:)]+|$)")
_LEADING_TAG = re.compile(r"^#\s*([^\s#,.;:!?，。；：！？]+)[\s,，:：、]*")
# A commitment's code as a tag: "#C3", "#承诺3", "# c 3"; not "#c3d" or "#cx".
_COMMITMENT_TAG = re.compile(r"#\s*(?:承诺\s*c?|c)\s*(\d{1,12})(?![0-9a-z])")


def commitment_tag(folded: str) -> tuple[int | None, int]:
    """The commitment a report names, and how many leading chars only said so (to strip)."""
    match = _COMMITMENT_TAG.search(folded)
    if match is None:
        return None, 0
    if match.start() > 0:
        return int(match.group(1)), 0
    end = match.end()
    while end < len(folded) and (folded[end].isspace() or folded[end] in ",，:：、"):
        end += 1
    return int(match.group(1)), end


def classify(folded: str) -> tuple[Category | None, int]:
    """The category of a report, and how many leading chars only said so (to strip)."""
    if (lead := _LEADING_TAG.match(folded)) and lead.group(1) in TAGS:
        return TAGS[lead.group(1)], lead.end()
    for match in _TAG.finditer(folded):
        if match.group(1) in TAGS:
            return TAGS[match.group(1)], 0
    if number := _LEADING_NUMBER.match(folded):
        return CATEGORIES[int(number.group(1)) - 1], number.end()
    best: tuple[int, Category] | None = None
    for category, words in KEYWORDS.items():
        for word in words:
            at = folded.find(word)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, category)
    return (best[1] if best else None), 0


async def report(msg: Message, ctx: Context) -> None:
    """A deed report: 汇报 <text>, or a member's free text (which may instead be an
    acknowledgement, answered and not counted). A photo alone is a deed too; the same
    words twice on one day count once."""
    grants = home_grants(ctx, Action.REPORT)
    if not grants:
        if not ctx.sender.grants and ctx.sender.address.kind is not AddressKind.SMS:
            ctx.reply(link_first(ctx))  # an unlinked chat: how to link, then report
        else:
            ctx.reply("deed.not_member")  # names the role needed: Party member
        return
    if msg.keyword is None and await everyday.answer(msg, ctx):
        return
    photo = msg.inbound.attachments[0].url if msg.inbound.attachments else None
    text = msg.text.folded[msg.args_at :]
    commitment_id, tag = commitment_tag(text)
    category, lead = classify(text[tag:])
    body = msg.text.original_from(msg.args_at + tag + lead)
    if not has_words(body):
        if photo is None:
            ctx.reply("deed.empty")
            return
        body = ""  # a photo alone: recorded now, its words may follow
    grant = grants[0]  # the branch of their first membership
    assert ctx.sender.person_id is not None  # a member has a person
    if photo is None and await _already_today(ctx, body, ctx.local_day(grant)):
        ctx.handled_as = "deed.duplicate"
        ctx.reply("deed.duplicate")
        return
    linked = None
    if commitment_id is not None:
        linked = await _commitment_of(ctx, commitment_id, grants)
        if linked is not None:
            grant = linked  # the deed counts in the branch the commitment was made in
    day = ctx.local_day(grant)
    monday = week_start(day)
    stats = await ctx.repos.deeds.add(
        person_id=ctx.sender.person_id,
        org_id=grant.org_id,
        inbound_id=msg.id,
        category=category,
        body=body,
        local_day=day,
        week_start=monday,
        now=ctx.now(),
        commitment_id=commitment_id if linked is not None else None,
        attachment_url=photo,
    )
    week, streak = stats.this_week, stats.streak_days
    if not body:
        ctx.reply("deed.photo", week=week, streak=streak)
        await ctx.ask_back(CAPTION, {"inbound_id": msg.id})
        return
    label = ctx.texts.get(f"category.{category.value}") if category else None
    if commitment_id is not None:
        code = code_of(commitment_id)
        if linked is None:
            ctx.reply("commitment.deed_unlinked", code=code, week=week, streak=streak)
        elif label is None:
            ctx.reply("commitment.deed_linked_plain", code=code, week=week, streak=streak)
        else:
            ctx.reply("commitment.deed_linked", code=code, category=label, week=week, streak=streak)
    elif label is None:
        ctx.reply("deed.recorded_plain", week=week, streak=streak)
    else:
        ctx.reply("deed.recorded", category=label, week=week, streak=streak)


async def _already_today(ctx: Context, body: str, day: date) -> bool:
    """The member reported these words (letters and digits alike) earlier the same day."""
    assert ctx.sender.person_id is not None
    key = dedupe_key(body)
    return any(
        dedupe_key(b) == key for b in await ctx.repos.deeds.texts_on(ctx.sender.person_id, day)
    )


CAPTION = "deed.caption"


async def describe_photo(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """The message after a photo alone, if it says what the photo shows, is its words."""
    folded = msg.text.folded
    if (
        msg.inbound.attachments  # another photo is a deed of its own
        or ctx.sender.person_id is None
        or everyday_kind(folded)  # "好的" is not a caption
        or is_usage_question(folded)
        or folded.endswith("?")
    ):
        return False
    category, lead = classify(folded)
    body = msg.text.original_from(lead)
    if not has_words(body):
        return False
    described = await ctx.repos.deeds.describe_photo(
        person_id=ctx.sender.person_id,
        inbound_id=int(payload["inbound_id"]),
        body=body,
        category=category,
    )
    if not described:
        return False
    if category is None:
        ctx.reply("deed.captioned_plain")
    else:
        ctx.reply("deed.captioned", category=ctx.texts.get(f"category.{category.value}"))
    return True


async def _commitment_of(ctx: Context, commitment_id: int, grants: list[Grant]) -> Grant | None:
    """The member's grant in the branch of a commitment they may report on (their own, or
    their branch's own), else None."""
    c = await ctx.repos.commitments.get(commitment_id)
    if c is None or (c.person_id is not None and c.person_id != ctx.sender.person_id):
        return None
    return next((g for g in grants if g.org_id == c.org_id), None)


ROUTES = [Route("deed", report, zh=("汇报", "hb"), en=("report",))]
RESUMERS: dict[str, Resumer] = {CAPTION: describe_photo}
