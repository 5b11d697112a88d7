"""Public commitments (公开承诺): 承诺 / CN / PLEDGE makes one, 承诺列表 / CNL / PLEDGES lists
a branch's, 完成 / WC / DONE marks one done, 承诺公示 / CNGS / PUBLISH publishes or sets
when they are published. A commitment is known as C<id> (`汇报 #C3 ...` reports progress).

    承诺 本月帮扶两户困难户 到 12-31      a member's own (due dates: 12-31, 12月31日,
                                         2027-01-15, 月底, 年底; a day already past this
                                         year means next year)
    承诺 支部 年底前修通村道 到 年底        the branch's own (its secretary, or a leader
    承诺 支部 HX0101 ...                  above it naming the branch)
    承诺公示 [HX0101]                      publish what is held, now
    承诺公示 周五 18:00 | 即时 | 手动        publish weekly / as soon as made (the default) /
                                         only when the secretary says so

The sweep (scheduler/commitment_jobs.py) does the sending; the rendering helpers here are
shared with it, so a commitment reads the same in a reply, a publication and a reminder.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.commitment_texts import (
    WEEKDAYS,
    date_text,
    fit,
    item_text,
    when_text,
)
from bot.dates import find_due, read_due
from bot.messages import Outbound
from bot.normalize import has_words
from handlers import confirm, deeds, help
from handlers.base import Context, Message, Route
from handlers.permissions import Action, allowed, check, home_grants, require_home
from storage.commitments import Commitment, PublishMode, Schedule, code_of
from storage.models import Org

# A reply or a publication listing commitments stays within this many SMS segments.
DEFAULT_PUBLISH_TIME = time(18, 0)  # when a weekly schedule names a day only

_SEP = r"[\s,，:：、;；]"
# An organisation code: letters then at least one digit (HX0101), ending at a separator.
_CODE = re.compile(rf"([a-z][a-z0-9_-]*\d[a-z0-9_-]*)(?:{_SEP}+|$)")
_BRANCH = re.compile(rf"(?:支部|zb|branch)(?:{_SEP}+|$)")
# A commitment's code as typed: C3, c3, #C3, 承诺3, 3.
_COMMITMENT_CODE = re.compile(r"#?\s*(?:承诺\s*)?c?\s*(\d{1,12})")
_WEEKDAY = re.compile(
    r"(?:每)?(?:周|星期|礼拜)(?P<zh>[一二三四五六日天1-7])"
    r"|(?<![a-z])(?P<en>mon|tue|wed|thu|fri|sat|sun)[a-z]*"
)
_ZH_DAYS = (
    {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6} | {str(i + 1): i for i in range(7)}
)
_TIME = re.compile(
    r"(?P<part>上午|早上|中午|下午|晚上)?\s*(?P<h>\d{1,2})"
    r"(?::(?P<m>\d{2})|点(?:(?P<half>半)|(?P<zm>\d{1,2})分?)?)"
)
_NOW = frozenset({"", "立即", "马上", "现在", "now"})  # publish what is held, now
_AT_ONCE = frozenset({"即时", "随时", "js", "instant", "at once"})  # from now on, as made
_HELD = frozenset({"手动", "暂缓", "暂停", "sd", "manual", "hold"})


# --- reading what was typed ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """The organisation a command acts on."""

    id: int
    name: str
    zone: ZoneInfo


def _zone(ctx: Context, name: str | None) -> ZoneInfo:
    return ZoneInfo(name) if name else ctx.settings.zone


async def _named_org(ctx: Context, code: str) -> Org | None:
    org = await ctx.repos.orgs.by_code(code)
    if org is None:
        ctx.reply("commitment.unknown_org", code=code.upper())
    return org


def parse_commitment_code(text: str) -> int | None:
    """The id in "C3", "#c3", "承诺3" or "3" (the whole text), else None."""
    match = _COMMITMENT_CODE.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def parse_weekly(text: str) -> Schedule | None:
    """A weekly schedule from what follows 承诺公示: 周五 18:00, 每周五18点半, fri 18:00."""
    day = _WEEKDAY.search(text)
    if day is None:
        return None
    weekday = _ZH_DAYS[day.group("zh")] if day.group("zh") else WEEKDAYS.index(day.group("en"))
    at = _TIME.search(text, day.end())
    if at is None:
        when = DEFAULT_PUBLISH_TIME
    else:
        hour = int(at.group("h"))
        minute = 30 if at.group("half") else int(at.group("m") or at.group("zm") or 0)
        if at.group("part") in ("下午", "晚上") and hour < 12:
            hour += 12
        if hour > 23 or minute > 59:
            return None
        when = time(hour, minute)
    return Schedule(PublishMode.WEEKLY, weekday, when.hour * 60 + when.minute)


def next_publication(schedule: Schedule, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When a commitment made `now` goes to the public; None while held."""
    if schedule.mode is PublishMode.NOW:
        return now
    if schedule.mode is PublishMode.MANUAL or schedule.weekday is None:
        return None
    local = now.astimezone(zone)
    minute = schedule.minute or 0
    day = local.date() + timedelta(days=(schedule.weekday - local.weekday()) % 7)
    at = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    return at if at >= local else at + timedelta(days=7)


def _original(msg: Message, start: int, end: int) -> str:
    """What the person wrote between two positions of the folded text."""
    whole = msg.text.original_from(start)
    rest = msg.text.original_from(end)
    body = whole[: len(whole) - len(rest)] if rest else whole
    return body.rstrip(" \t\n,，、;；:：")  # "帮扶两户，到12月31日" leaves no comma behind


# --- commands -------------------------------------------------------------------------------


async def commit(msg: Message, ctx: Context) -> None:
    folded = msg.text.folded[msg.args_at :]
    if branch := _BRANCH.match(folded):
        await _branch_commitment(msg, ctx, msg.args_at + branch.end())
        return
    grant = require_home(ctx, Action.COMMIT)
    if grant is None:
        return
    place = Place(grant.org_id, grant.org_name, _zone(ctx, grant.org_timezone))
    await _make(msg, ctx, msg.args_at, place, ctx.sender.person_id, "commitment.made")


async def _branch_commitment(msg: Message, ctx: Context, at: int) -> None:
    if code := _CODE.match(msg.text.folded[at:]):
        org = await _named_org(ctx, code.group(1))
        if org is None or not await check(ctx, Action.BRANCH_COMMITMENT, org.id, org.name):
            return
        place = Place(org.id, org.name, _zone(ctx, org.timezone))
        at += code.end()
    else:
        grant = require_home(ctx, Action.BRANCH_COMMITMENT)
        if grant is None:
            return
        place = Place(grant.org_id, grant.org_name, _zone(ctx, grant.org_timezone))
    await _make(msg, ctx, at, place, None, "commitment.branch_made")


async def _make(
    msg: Message, ctx: Context, at: int, place: Place, person_id: int | None, made: str
) -> None:
    today = ctx.now().astimezone(place.zone).date()
    text = msg.text.folded[at:]
    found = find_due(text, today)
    if found is None:
        body = _original(msg, at, len(msg.text.folded))
    else:
        body = _joined(_original(msg, at, at + found.start), msg.text.original_from(at + found.end))
    if not has_words(body):
        ctx.reply("commitment.branch_usage" if person_id is None else "commitment.usage")
        return
    draft = Draft(place.id, place.name, str(place.zone), person_id, made, body, msg.id)
    if found is not None and found.due is None:
        # Date words we cannot read are asked back, never published inside the text.
        ctx.reply("commitment.ask_date", date=found.typed)
        await ctx.ask_back("commitment.due", dataclasses.asdict(draft))
        return
    await _register(ctx, draft, found.due if found else None)


@dataclass(frozen=True, slots=True)
class Draft:
    """A commitment waiting for its due date to be answered."""

    org_id: int
    org_name: str
    zone: str
    person_id: int | None
    made: str  # the reply's key
    body: str
    message_id: int


def _joined(before: str, after: str) -> str:
    """The text around removed date words, so that it still reads: "修好路灯，完成验收"."""
    left, right = before.rstrip(_STRIP), after.lstrip(_STRIP).rstrip(_STRIP)
    if not left or not right:
        return left or right
    gap = before[len(left) :].strip(" ")[:1] or (" " if before[len(left) :] else "")
    return left + gap + right


_STRIP = " \t\n,，、;；:：。.!！"
# An answer that gives no due date: the commitment is made without one.
_NO_DATE = frozenset({"无", "没有", "不设", "不限", "不定", "无期限", "长期", "none", "no date"})


async def resume_due(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """The answer to "which due date?": a date, 无 (none) or 取消; anything else goes its
    normal way and the commitment is not made."""
    draft = Draft(**payload)
    folded = msg.text.folded.strip(_STRIP)
    answer = confirm.answer_of(msg)
    if answer is confirm.Answer.CANCEL:
        ctx.reply("commitment.date_cancelled")
        return True
    if folded in _NO_DATE:
        await _register(ctx, draft, None)
        return True
    today = ctx.now().astimezone(ZoneInfo(draft.zone)).date()
    found = read_due(folded, today)
    if found is None:
        return False
    if found.due is None:  # still no date we can read: ask once more
        ctx.reply("commitment.ask_date", date=found.typed)
        await ctx.ask_back("commitment.due", payload)
        return True
    await _register(ctx, draft, found.due)
    return True


async def _register(ctx: Context, draft: Draft, due: date | None) -> None:
    now = ctx.now()
    zone = ZoneInfo(draft.zone)
    today = now.astimezone(zone).date()
    schedule = await ctx.repos.commitments.schedule(draft.org_id)
    c = await ctx.repos.commitments.create(
        org_id=draft.org_id,
        person_id=draft.person_id,
        body=draft.body,
        due_on=due,
        created_by=ctx.sender.person_id,
        publish_at=next_publication(schedule, now, zone),
        now=now,
        # Handled again after a crash: the same commitment.
        source=f"message:{draft.message_id}",
    )
    if schedule.mode is PublishMode.NOW:
        publication = ctx.texts.get("commitment.publish.soon")
    elif schedule.mode is PublishMode.WEEKLY:
        publication = ctx.texts.get("commitment.publish.at", when=when_text(ctx.texts, schedule))
    else:
        publication = ctx.texts.get("commitment.publish.held")
    due_text = (
        ctx.texts.get("commitment.due", date=date_text(ctx.texts, c.due_on, today))
        if c.due_on
        else ""
    )
    ctx.reply(draft.made, code=c.code, org=draft.org_name, due=due_text, publication=publication)


async def list_commitments(msg: Message, ctx: Context) -> None:
    words = msg.text.folded[msg.args_at :].split()
    if words:
        org = await _named_org(ctx, words[0])
        if org is None:
            return
        place = Place(org.id, org.name, _zone(ctx, org.timezone))
    else:
        # One's own branch (any role there), else the organisation a leader leads.
        grants = home_grants(ctx, Action.ANSWER_POLL) or home_grants(ctx, Action.BRANCH_COMMITMENT)
        if not grants:
            ctx.reply("commitment.list_need_code")
            return
        g = grants[0]
        place = Place(g.org_id, g.org_name, _zone(ctx, g.org_timezone))
    # Published commitments are the public's to see; those still held, their makers' and
    # the people who run the branch.
    everyone = await allowed(ctx, Action.BRANCH_COMMITMENT, place.id)
    items, done = await ctx.repos.commitments.listing(place.id, ctx.sender.person_id, everyone)
    if not items and not done:
        ctx.reply("commitment.list_empty", org=place.name)
        return
    if not items:
        ctx.reply("commitment.list_only_done", org=place.name, count=done)
        return
    today = ctx.now().astimezone(place.zone).date()
    lines = [item_text(ctx.texts, c, today, held=True) for c in items]
    done_text = ctx.texts.get("commitment.list_done", count=done) if done else ""
    body = fit(ctx.texts, "commitment.list", lines, org=place.name, done=done_text)
    ctx.replies.append(Outbound(ctx.sender.address, body))


async def mark_done(msg: Message, ctx: Context) -> None:
    args = msg.text.folded[msg.args_at :]
    if not args:
        await _done_without_code(ctx)
        return
    commitment_id = parse_commitment_code(args)
    if commitment_id is None:
        # "完成了村道硬化" is a member's report, not a code: take it as the default would.
        whole = dataclasses.replace(msg, args=msg.text.original_from(0), args_at=0, keyword=None)
        if ctx.sender.is_member:
            ctx.handled_as = "deed.free_text"
            await deeds.report(whole, ctx)
        else:
            ctx.handled_as = "help.default"
            await help.not_understood(whole, ctx)
        return
    c = await ctx.repos.commitments.get(commitment_id)
    if c is None:
        ctx.reply("commitment.not_found", code=code_of(commitment_id))
        return
    own = c.person_id is not None and c.person_id == ctx.sender.person_id
    if not (own and await allowed(ctx, Action.COMMIT, c.org_id)):
        # Anyone else's: the secretary (or a leader above) answers for the branch.
        if not c.is_branch and not await allowed(ctx, Action.BRANCH_COMMITMENT, c.org_id):
            ctx.reply("commitment.not_yours", code=c.code)
            return
        org = await ctx.repos.orgs.by_id(c.org_id)
        name = org.name if org else None
        if not await check(ctx, Action.BRANCH_COMMITMENT, c.org_id, name):
            return
    await _complete(ctx, c)


async def _done_without_code(ctx: Context) -> None:
    if require_home(ctx, Action.COMMIT) is None:
        return
    assert ctx.sender.person_id is not None  # a member has a person
    mine = await ctx.repos.commitments.open_of(ctx.sender.person_id)
    if not mine:
        ctx.reply("commitment.none_open")
    elif len(mine) == 1:
        await _complete(ctx, mine[0])
    else:
        ctx.reply(
            "commitment.which",
            count=len(mine),
            codes=ctx.texts.get("list.separator").join(c.code for c in mine[:5]),
            first=mine[0].code,
        )


async def _complete(ctx: Context, c: Commitment) -> None:
    if await ctx.repos.commitments.complete(c.id, ctx.sender.person_id, ctx.now()):
        ctx.reply("commitment.done", code=c.code)
        return
    done_on = (c.done_at or ctx.now()).astimezone(ctx.settings.zone).date()
    today = ctx.now().astimezone(ctx.settings.zone).date()
    ctx.reply("commitment.already_done", code=c.code, date=date_text(ctx.texts, done_on, today))


async def publish(msg: Message, ctx: Context) -> None:
    rest = msg.text.folded[msg.args_at :]
    if code := _CODE.match(rest):
        org = await _named_org(ctx, code.group(1))
        if org is None or not await check(ctx, Action.BRANCH_COMMITMENT, org.id, org.name):
            return
        place = Place(org.id, org.name, _zone(ctx, org.timezone))
        rest = rest[code.end() :]
    else:
        grant = require_home(ctx, Action.BRANCH_COMMITMENT)
        if grant is None:
            return
        place = Place(grant.org_id, grant.org_name, _zone(ctx, grant.org_timezone))
    rest = rest.strip()
    now = ctx.now()
    repos = ctx.repos.commitments
    if rest in _NOW:
        count = await repos.release(place.id, now)
        if count:
            ctx.reply("commitment.released", count=count)
        else:
            ctx.reply("commitment.nothing_held", org=place.name)
        return
    if rest in _AT_ONCE:
        schedule, key = Schedule(PublishMode.NOW), "commitment.schedule.now"
    elif rest in _HELD:
        schedule, key = Schedule(PublishMode.MANUAL), "commitment.schedule.manual"
    elif weekly := parse_weekly(rest):
        schedule, key = weekly, "commitment.schedule.weekly"
    else:
        ctx.reply("commitment.schedule.bad")
        return
    count = await repos.set_schedule(
        place.id, schedule, next_publication(schedule, now, place.zone), ctx.sender.person_id, now
    )
    when = when_text(ctx.texts, schedule) if schedule.mode is PublishMode.WEEKLY else ""
    ctx.reply(key, org=place.name, count=count, when=when)


ROUTES = [
    # Not touching: "承诺的事都办好了" is a member's report; nothing a member writes should
    # reach the public by accident.
    Route("commitment", commit, zh=("承诺", "cn"), en=("pledge", "commit"), touching=False),
    Route(
        "commitment.list",
        list_commitments,
        zh=("承诺列表", "cnl"),
        en=("pledges", "commitments"),
        touching=False,
    ),
    Route(
        "commitment.publish",
        publish,
        zh=("承诺公示", "cngs"),
        en=("publish",),
        touching=False,
    ),
    # Touching, because anything but a code falls back to a report: "完成了村道硬化".
    Route("commitment.done", mark_done, zh=("完成", "wc"), en=("done",)),
]
RESUMERS = {"commitment.due": resume_due}
