"""Leaders' commentary on a branch (点评 / DP / REMARK) and briefings to the public (通报 /
TB / BRIEF).

    点评 HX0101 走访群众做得实，继续保持    a leader, on an organisation of their subtree: to
                                        its secretary and members, stored with it
    通报 本月全村走访困难户32户            a secretary, to their branch's public; a leader, to
    通报 HX0101 ...                      the public of their organisation's subtree (or of
                                        the one named)

通知 (handlers/notices.py) reaches the whole branch, members included; 通报 is for the public.
"""

from __future__ import annotations

import re

from bot.normalize import has_words
from bot.segments import count_segments
from bot.texts import LANGUAGES, texts_for
from handlers import org_refs
from handlers.base import Context, Message, Route
from handlers.limits import within
from handlers.permissions import Action, check, require_home
from storage.models import Grant, Org, Role

COMMENTARY_AUDIENCE = (Role.SECRETARY, Role.MEMBER)
BRIEFING_AUDIENCE = (Role.PUBLIC,)

_SEP = r"[\s,，:：、;；]"
# The code 点评 needs: any code, touching the text or not ("点评HX0101做得好").
_ANY_CODE = re.compile(rf"([0-9a-z][0-9a-z_-]*){_SEP}*")
# A code 通报 may begin with: letters then a digit, then a separator ("通报 HX0101 ..."),
# so that "BRIEF road closed" stays text.
_CODE = re.compile(rf"([a-z][a-z0-9_-]*\d[a-z0-9_-]*)(?:{_SEP}+|$|(?=[^\x00-\x7f]))")


async def commentary(msg: Message, ctx: Context) -> None:
    folded = msg.text.folded[msg.args_at :]
    code = _ANY_CODE.match(folded)
    org = await ctx.repos.orgs.by_code(code.group(1)) if code else None
    at = code.end() if code and org else 0
    if org is None:  # a branch may be named as people say it: 点评 东坡村 ...
        found = await org_refs.by_name(ctx, folded, Action.COMMENTARY)
        if ctx.replies:  # a name two organisations share: asked which
            return
        if found is None:
            if code is None:
                ctx.reply("commentary.usage")
            else:
                ctx.reply("commentary.unknown", code=code.group(1).upper())
            return
        org, at = found
    if not await check(ctx, Action.COMMENTARY, org.id, org.name):
        return
    body = msg.text.original_from(msg.args_at + at)
    if not has_words(body):
        ctx.reply("commentary.usage")
        return
    signer = await _leading(ctx, org)
    name = ctx.sender.record.name or (signer.org_name if signer else org.name)
    by = signer.org_name if signer else name
    now = ctx.now()
    stored = await ctx.repos.commentary.comment(
        org_id=org.id,
        author_id=ctx.sender.person_id,
        author_org_id=signer.org_id if signer else None,
        body=body,
        now=now,
        source=f"message:{msg.id}",
    )
    signed = {
        lang: texts_for(lang).get("commentary.signed", org=by, name=name, text=body)
        for lang in LANGUAGES
    }
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="commentary",
        texts=signed,
        default_language=ctx.settings.language,
        now=now,
        root_org_id=org.id,
        roles=COMMENTARY_AUDIENCE,
        source=f"message:{msg.id}",  # handled again after a crash: the same broadcast
        role="members",
        created_by=ctx.sender.person_id,
        include_subtree=False,  # the branch commented on, not those below it
        exclude_person=ctx.sender.person_id,
    )
    await ctx.repos.commentary.sent("commentary", stored, broadcast, count)
    if count == 0:
        ctx.reply("commentary.nobody", org=org.name)
        return
    segments = count_segments(signed[ctx.settings.language]).segments
    ctx.reply("commentary.sent", org=org.name, count=count, segments=segments)


async def _leading(ctx: Context, org: Org) -> Grant | None:
    """The sender's leader role the commentary speaks for: the nearest above `org`."""
    leading = {g.org_id: g for g in ctx.sender.grants if g.role == Role.LEADER}
    for ancestor in await ctx.repos.orgs.ancestor_ids(org.id):
        if ancestor in leading:
            return leading[ancestor]
    return None


async def briefing(msg: Message, ctx: Context) -> None:
    at = msg.args_at
    code = _CODE.match(msg.text.folded[at:])
    if code is not None:
        org = await ctx.repos.orgs.by_code(code.group(1))
        if org is None:
            ctx.reply("briefing.unknown", code=code.group(1).upper())
            return
        if not await check(ctx, Action.BRIEFING, org.id, org.name):
            return
        org_id, org_name = org.id, org.name
        at += code.end()
    else:
        grant = require_home(ctx, Action.BRIEFING)
        if grant is None:
            return
        org_id, org_name = grant.org_id, grant.org_name
    body = msg.text.original_from(at)
    if not has_words(body):
        ctx.reply("briefing.usage")
        return
    # A secretary speaks to their branch; a leader to the organisations below theirs.
    subtree = not any(g.role == Role.SECRETARY and g.org_id == org_id for g in ctx.sender.grants)
    if not await within(ctx, "briefing"):
        return
    now = ctx.now()
    stored = await ctx.repos.commentary.brief(
        org_id=org_id,
        author_id=ctx.sender.person_id,
        body=body,
        subtree=subtree,
        now=now,
        source=f"message:{msg.id}",
    )
    signed = {
        lang: texts_for(lang).get("briefing.signed", org=org_name, text=body) for lang in LANGUAGES
    }
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="briefing",
        texts=signed,
        default_language=ctx.settings.language,
        now=now,
        root_org_id=org_id,
        roles=BRIEFING_AUDIENCE,
        source=f"message:{msg.id}",
        role=Role.PUBLIC.value,
        created_by=ctx.sender.person_id,
        include_subtree=subtree,
        exclude_person=ctx.sender.person_id,
    )
    await ctx.repos.commentary.sent("briefings", stored, broadcast, count)
    if count == 0:
        ctx.reply("briefing.nobody", org=org_name)
        return
    segments = count_segments(signed[ctx.settings.language]).segments
    ctx.reply("briefing.sent", count=count, segments=segments, id=broadcast)


ROUTES = [
    Route("commentary", commentary, zh=("点评", "dp"), en=("remark", "remarks"), touching=False),
    # Not touching: "通报了村里的情况" is a report.
    Route("briefing", briefing, zh=("通报", "tb"), en=("brief", "briefing"), touching=False),
]
