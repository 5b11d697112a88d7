"""Public notice of a shortlist (公示), objections (异议 / YY) and outcomes.

- 公示 [支部代码] [天数] (GS): the round's shortlist goes to the branch's public and members
  with a code (G3) and the last day; the next round of recommendations begins.
- 异议 [G3] <理由> (YY): anyone of the branch objects while the notice runs. The objection
  is acknowledged, stored, and forwarded at once: to the branch's secretary without who
  sent it, to the leaders above the branch with the objector's name and masked number.
- 异议列表 [G3] (YYL): the objections, to those who run the notice; objectors are shown only
  to those permitted SEE_OBJECTORS (leaders above the branch), never to its secretary.
- 公示结果 G3 [编号|姓名] 表彰|撤回|暂缓 [理由] (GSJG): after the period, the outcome for one
  candidate or for all undecided ones; once every candidate has one, it is announced to
  everyone the notice was sent to.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.messages import AddressKind, Outbound
from bot.normalize import has_words
from bot.texts import LANGUAGES, Texts, texts_for
from handlers import confirm, org_refs, paging
from handlers.base import Context, Message, Route
from handlers.limits import within
from handlers.permissions import Action, allowed, check, home_grants, require_home
from handlers.recommendations import (
    args_of,
    by_number_or_name,
    original_at,
    skip_separators,
    target_org,
)
from storage.models import Role
from storage.outbox import Queued
from storage.public_notices import Candidate, Notice, Objector, Outcome, Reachable

AUDIENCE = (Role.PUBLIC, Role.MEMBER, Role.SECRETARY)  # the branch's public and members
MAX_DAYS = 60

_CODE = re.compile(r"g(\d+)(?![a-z0-9])")
_DAYS = re.compile(r"(\d+)\s*(?:天|days?|d)?")
# Longer words first: "commended" must not stop at "commend".
_OUTCOME = re.compile(r"表彰|撤回|暂缓|commended|commend|withdrawn|withdraw|deferred|defer")
OUTCOME_WORDS = {
    "表彰": Outcome.COMMENDED,
    "commended": Outcome.COMMENDED,
    "commend": Outcome.COMMENDED,
    "撤回": Outcome.WITHDRAWN,
    "withdrawn": Outcome.WITHDRAWN,
    "withdraw": Outcome.WITHDRAWN,
    "暂缓": Outcome.DEFERRED,
    "deferred": Outcome.DEFERRED,
    "defer": Outcome.DEFERRED,
}


def day_text(texts: Texts, day: date) -> str:
    return texts.get("public_notice.day", month=day.month, day=day.day)


def zone_of(ctx: Context, timezone: str | None) -> ZoneInfo:
    return ZoneInfo(timezone) if timezone else ctx.settings.zone


async def _notice_by_code(ctx: Context, number: str, action: Action) -> Notice | None:
    """The notice G<number>, if the sender may take `action` on it. A refusal must not tell
    whether it exists (12.9): whoever may take `action` nowhere is refused as such before
    any lookup, and a notice outside their reach is answered as one that does not exist."""
    if require_home(ctx, action) is None:
        return None
    notice = await ctx.repos.public_notices.get(int(number))
    if notice is None or not await allowed(ctx, action, notice.org_id):
        ctx.reply("public_notice.not_found", code=f"G{number}")
        return None
    return notice


# --- 公示: put the shortlist on notice ---------------------------------------------------


async def publish(msg: Message, ctx: Context) -> None:
    target = await target_org(msg, ctx, Action.PUBLIC_NOTICE)
    if target is None:
        return
    org, at = target
    rest = args_of(msg)[at:].strip()
    days = ctx.settings.notice_days
    if rest:
        given = _DAYS.fullmatch(rest)
        if given is None:
            ctx.reply("public_notice.usage", days=days)
            return
        days = int(given.group(1))
        if not 1 <= days <= MAX_DAYS:
            ctx.reply("public_notice.bad_days", max=MAX_DAYS)
            return
    repo = ctx.repos.public_notices
    source = f"message:{msg.id}"
    notice = await repo.by_source(source)  # handled again after a crash: the same notice
    if notice is None:
        round_no = await ctx.repos.recommendations.current_round(org.id)
        if not await repo.candidates(org.id, round_no):
            ctx.reply("public_notice.no_shortlist", org=org.name)
            return
        # At least `days` whole days: the notice runs to the end of the day `days` after today.
        zone = zone_of(ctx, org.timezone)
        last_day = ctx.now().astimezone(zone).date() + timedelta(days=days)
        notice = await repo.publish(
            org_id=org.id,
            round_no=round_no,
            last_day=last_day,
            ends_at=datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone),
            created_by=ctx.sender.person_id,
            source=source,
            now=ctx.now(),
        )
    count = await _broadcast_notice(ctx, notice)
    ctx.reply(
        "public_notice.published",
        code=notice.code,
        count=count,
        last_day=day_text(ctx.texts, notice.last_day),
    )


async def _broadcast_notice(ctx: Context, notice: Notice) -> int:
    candidates = await ctx.repos.public_notices.candidates(notice.org_id, notice.round)
    bodies = {}
    for language in LANGUAGES:
        texts = texts_for(language)
        bodies[language] = texts.get(
            "public_notice.body",
            org=notice.org_name,
            names=texts.get("public_notice.name_sep").join(c.name for c in candidates),
            last_day=day_text(texts, notice.last_day),
            code=notice.code,
        )
    now = ctx.now()
    broadcast, count = await ctx.repos.outbox.broadcast_to_audience(
        kind="public_notice",
        texts=bodies,
        default_language=ctx.settings.language,
        now=now,
        root_org_id=notice.org_id,
        roles=AUDIENCE,
        source=f"public_notice:{notice.id}",
        key_prefix=f"public_notice:{notice.id}",
        role="all",
        created_by=ctx.sender.person_id,
        include_subtree=False,
        exclude_person=ctx.sender.person_id,
    )
    await ctx.repos.public_notices.set_broadcast(notice.id, broadcast)
    return count


# --- 异议: objections -------------------------------------------------------------------


async def object_to(msg: Message, ctx: Context) -> None:
    args = args_of(msg)
    code = _CODE.match(args)
    if code:
        notice = await _notice_by_code(ctx, code.group(1), Action.OBJECT)
        if notice is None:
            return
        at = code.end()
    else:  # no code: the one notice running in the sender's branch, if there is one
        grants = home_grants(ctx, Action.OBJECT)
        if not grants:
            require_home(ctx, Action.OBJECT)
            return
        running = await ctx.repos.public_notices.open_in([g.org_id for g in grants], ctx.now())
        if len(running) != 1:
            ctx.reply("public_notice.need_code")
            return
        notice, at = running[0], 0
    if not await check(ctx, Action.OBJECT, notice.org_id, notice.org_name):
        return
    if not notice.is_open(ctx.now()):
        ctx.reply(
            "public_notice.objection.closed",
            code=notice.code,
            last_day=day_text(ctx.texts, notice.last_day),
        )
        return
    text = original_at(msg, at)
    if not has_words(text):
        ctx.reply("public_notice.objection.need_reason", code=notice.code)
        return
    if not await within(ctx, "object"):  # each one is forwarded to several people
        return
    person_id = ctx.sender.person_id
    assert person_id is not None  # a role in the branch means a person
    objection_id, _ = await ctx.repos.public_notices.add_objection(
        notice_id=notice.id,
        body=text,
        day=ctx.now().astimezone(zone_of(ctx, notice.org_timezone)).date(),
        person_id=person_id,
        address=ctx.sender.address,
        source=f"message:{msg.id}",
    )
    # Forwarded even when handled again: the keys make it once per recipient.
    await _forward(ctx, notice, objection_id, text)
    ctx.reply("public_notice.objection.received", code=notice.code)


def _who(texts: Texts, name: str | None, phone: str | None) -> str:
    """The objector, for the leaders allowed to see them (SEE_OBJECTORS) and nobody else:
    the whole number, so that they can call back and hear the objection out."""
    phone = phone or texts.get("public_notice.objection.no_phone")
    if name:
        return texts.get("public_notice.objection.who", name=name, phone=phone)
    return texts.get("public_notice.objection.who_unnamed", phone=phone)


async def _forward(ctx: Context, notice: Notice, objection_id: int, text: str) -> None:
    repo = ctx.repos.public_notices
    above = (await ctx.repos.orgs.ancestor_ids(notice.org_id))[1:]  # strictly above
    secretaries = await repo.holders([notice.org_id], [Role.SECRETARY.value])
    # Someone who is both the branch's secretary and a leader above it hears it unnamed.
    leaders = [
        p
        for p in await repo.holders(above, [Role.LEADER.value])
        if p.person_id not in {s.person_id for s in secretaries}
    ]
    seen = {p.person_id for p in leaders} | {ctx.sender.person_id}
    items = []

    def to(person: Reachable, key: str, **params: object) -> Queued:
        body = texts_for(person.language or ctx.settings.language).get(key, **params)
        return Queued(
            f"objection:{objection_id}:person:{person.person_id}", Outbound(person.address, body)
        )

    fields = {"code": notice.code, "org": notice.org_name, "text": text}
    phone = ctx.sender.address.value if ctx.sender.address.kind is AddressKind.SMS else None
    if phone is None and ctx.sender.person_id is not None:  # objected from Telegram
        phone = await repo.phone_of(ctx.sender.person_id)
    for leader in leaders:
        if leader.person_id != ctx.sender.person_id:
            texts = texts_for(leader.language or ctx.settings.language)
            who = _who(texts, ctx.sender.record.name, phone)
            items.append(to(leader, "public_notice.objection.to_leader", who=who, **fields))
    # The secretary hears what was said, never by whom: people must object without fear.
    items += [
        to(s, "public_notice.objection.to_secretary", **fields)
        for s in secretaries
        if s.person_id not in seen
    ]
    await ctx.repos.outbox.enqueue_many(items, ctx.now())


async def objections(msg: Message, ctx: Context) -> None:
    args = args_of(msg)
    code = _CODE.match(args)
    if code:
        notice = await _notice_by_code(ctx, code.group(1), Action.PUBLIC_NOTICE)
        if notice is None:
            return
    else:
        # A leader names the branch (异议列表 HX0101, 异议列表 东坡村); else one's own.
        named = await org_refs.named(ctx, args, Action.PUBLIC_NOTICE) if args else None
        if isinstance(named, str):
            ctx.reply("recommend.unknown_org", code=named)
            return
        if ctx.replies:  # a name several organisations share: asked which
            return
        if named is not None:
            org_id, org_name = named[0].id, named[0].name
            if not await check(ctx, Action.PUBLIC_NOTICE, org_id, org_name):
                return
        else:
            grant = require_home(ctx, Action.PUBLIC_NOTICE)
            if grant is None:
                return
            org_id, org_name = grant.org_id, grant.org_name
        notice = await ctx.repos.public_notices.latest(org_id)
        if notice is None:
            ctx.reply("public_notice.none", org=org_name)
            return
    if not await check(ctx, Action.PUBLIC_NOTICE, notice.org_id, notice.org_name):
        return
    repo = ctx.repos.public_notices
    found = await repo.objections(notice.id)
    if not found:
        ctx.reply("public_notice.objection.none", code=notice.code)
        return
    # The one path that reads objectors; the permissions module says who may take it.
    objectors: dict[int, Objector] = {}
    if await allowed(ctx, Action.SEE_OBJECTORS, notice.org_id):
        objectors = await repo.objectors(notice.id)
    items = []
    for n, objection in enumerate(found, 1):
        fields = {"n": n, "day": day_text(ctx.texts, objection.day), "text": objection.body}
        by = objectors.get(objection.id)
        if by is None:
            items.append(ctx.texts.get("public_notice.objection.item", **fields))
        else:
            sms = by.address.value if by.address.kind is AddressKind.SMS else by.phone
            who = _who(ctx.texts, by.name, sms)
            items.append(ctx.texts.get("public_notice.objection.item_by", who=who, **fields))

    def head(joined: str) -> str:
        return ctx.texts.get(
            "public_notice.objection.list", code=notice.code, count=len(found), items=joined
        )

    sep = ctx.texts.get("public_notice.objection.item_sep")
    await paging.say_pages(ctx, paging.pages(ctx, head, items, sep))


# --- 公示结果: outcomes ------------------------------------------------------------------


async def outcome(msg: Message, ctx: Context) -> None:
    args = args_of(msg)
    code = _CODE.match(args)
    if code is None:
        ctx.reply("public_notice.outcome.usage")
        return
    notice = await _notice_by_code(ctx, code.group(1), Action.NOTICE_OUTCOME)
    if notice is None:
        return
    if not await check(ctx, Action.NOTICE_OUTCOME, notice.org_id, notice.org_name):
        return
    if notice.announced_at is not None:
        ctx.reply("public_notice.outcome.already", code=notice.code)
        return
    if notice.is_open(ctx.now()):
        ctx.reply(
            "public_notice.outcome.not_ended",
            code=notice.code,
            last_day=day_text(ctx.texts, notice.last_day),
        )
        return
    at = skip_separators(args, code.end())
    word = _OUTCOME.search(args, at)
    if word is None:
        ctx.reply("public_notice.outcome.usage")
        return
    decided = OUTCOME_WORDS[word.group(0)]
    reason = original_at(msg, word.end())
    if decided is not Outcome.COMMENDED and not has_words(reason):
        ctx.reply("public_notice.outcome.need_reason")
        return
    repo = ctx.repos.public_notices
    candidates = await repo.candidates(notice.org_id, notice.round)
    query = args[at : word.start()].strip(" ,，:：、")
    chosen: list[int] | None = None
    if query:
        members = await ctx.repos.recommendations.members([notice.org_id])
        listed = {c.person_id for c in candidates}
        found = [m for m in by_number_or_name(query, members) if m.person_id in listed]
        if len(found) != 1:
            ctx.reply("public_notice.outcome.not_candidate", query=query, code=notice.code)
            return
        chosen = [found[0].person_id]
    objected = await repo.objection_count(notice.id)
    if decided is Outcome.COMMENDED and objected:
        # Commending despite objections is a decision to take knowingly: say how many.
        ctx.say(
            ctx.texts.get(
                "public_notice.outcome.confirm_objections", code=notice.code, count=objected
            ),
            choices=confirm.buttons(ctx),
        )
        payload = {"notice": notice.id, "chosen": chosen, "outcome": decided.value}
        await ctx.ask_back("public_notice.outcome", {**payload, "reason": reason})
        return
    await _decide(ctx, notice, chosen, decided, reason)


async def resume_outcome(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """确认 records the commendation the objections held back; 取消 drops it."""
    answer = confirm.answer_of(msg)
    if answer is None:
        return False
    notice = await _notice_by_code(ctx, str(payload["notice"]), Action.NOTICE_OUTCOME)
    if notice is None:
        return True
    if answer is confirm.Answer.CANCEL:
        ctx.reply("public_notice.outcome.cancelled", code=notice.code)
        return True
    if not await check(ctx, Action.NOTICE_OUTCOME, notice.org_id, notice.org_name):
        return True
    if notice.announced_at is not None:
        ctx.reply("public_notice.outcome.already", code=notice.code)
        return True
    chosen = payload.get("chosen")
    await _decide(ctx, notice, chosen, Outcome(payload["outcome"]), payload.get("reason", ""))
    return True


async def _decide(
    ctx: Context, notice: Notice, chosen: list[int] | None, decided: Outcome, reason: str
) -> None:
    repo = ctx.repos.public_notices
    await repo.decide(notice, chosen, decided, reason or None, ctx.now())
    candidates = await repo.candidates(notice.org_id, notice.round)
    undecided = [c for c in candidates if c.outcome is None]
    if undecided:
        names = [c.name for c in candidates if c.outcome is not None]
        ctx.reply(
            "public_notice.outcome.recorded",
            names=ctx.texts.get("public_notice.name_sep").join(names),
            left=len(undecided),
            code=notice.code,
        )
        return
    count = await _announce(ctx, notice, candidates)
    ctx.reply("public_notice.outcome.announced", code=notice.code, count=count)


def _outcome_items(texts: Texts, candidates: list[Candidate]) -> str:
    items = []
    for c in candidates:
        assert c.outcome is not None
        word = texts.get(f"public_notice.outcome.word.{c.outcome.value}")
        if c.reason:
            items.append(
                texts.get(
                    "public_notice.outcome.item_reason", name=c.name, outcome=word, reason=c.reason
                )
            )
        else:
            items.append(texts.get("public_notice.outcome.item", name=c.name, outcome=word))
    return texts.get("public_notice.outcome.item_sep").join(items)


async def _announce(ctx: Context, notice: Notice, candidates: list[Candidate]) -> int:
    """The outcome, to everyone the notice was sent to; once."""
    bodies = {
        language: texts_for(language).get(
            "public_notice.outcome.body",
            org=notice.org_name,
            code=notice.code,
            items=_outcome_items(texts_for(language), candidates),
        )
        for language in LANGUAGES
    }
    now = ctx.now()
    broadcast = await ctx.repos.outbox.create_broadcast(
        kind="notice_outcome",
        body=bodies[ctx.settings.language],
        org_id=notice.org_id,
        role="all",
        created_by=ctx.sender.person_id,
        now=now,
        source=f"notice_outcome:{notice.id}",
    )
    count = await ctx.repos.public_notices.announce(
        notice=notice,
        broadcast_id=broadcast,
        texts=bodies,
        default_language=ctx.settings.language,
        now=now,
    )
    await ctx.repos.public_notices.mark_announced(notice.id, now)
    return count


ROUTES = [
    # Not touching: "公示了入党积极分子名单" is a secretary's report, not a command.
    Route("public_notice", publish, zh=("公示", "gs"), en=("public notice",), touching=False),
    # Not touching: "公示结果已张贴" is a report.
    Route(
        "public_notice.outcome", outcome, zh=("公示结果", "gsjg"), en=("outcome",), touching=False
    ),
    Route("public_notice.object", object_to, zh=("异议", "yy"), en=("object",)),
    Route(
        "public_notice.objections", objections, zh=("异议列表", "yyl", "yylb"), en=("objections",)
    ),
]
RESUMERS = {"public_notice.outcome": resume_outcome}
