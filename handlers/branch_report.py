"""A branch's week from the phone: 汇报情况 / 本周 / 统计 / 谁没汇报 / WEEK (and 查询 HX0101).

A secretary sees their branch: reports this week, who reported how often, who has not. A
leader sees each organisation with members below them, those with no report first. Either
fits two SMS: the ones who have not reported are named first, then the rest, then "等".
Anyone else asking gets their own record (a member's "本周" is about their own week).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.clock import week_start
from bot.name_lists import fit_names
from bot.texts import Texts
from handlers import deeds
from handlers.base import Context, Message, Route
from handlers.permissions import NEEDS, Action, Refusal, allowed, home_grants, refuse
from handlers.record import own_record
from storage.models import Role
from storage.reports import BranchWeek, SubtreeWeek

MAX_SEGMENTS = 2
_REPORT = "汇报"  # the deed keyword (handlers/deeds.py)

# Whole-message words (trailing punctuation and "?" are dropped by the router).
WORDS_ZH = (
    "汇报情况",
    "汇报统计",
    "本周",
    "本周汇报",
    "本周情况",
    "本周统计",
    "本周汇报情况",
    "这周",
    "这周汇报",
    "这周汇报情况",
    "统计",
    "谁没汇报",
    "谁没有汇报",
    "谁还没汇报",
    "谁还没有汇报",
    "本周谁没汇报",
    "这周谁没汇报",
    "没汇报的",
    "未汇报",
    "hbqk",  # 汇报情况 (not BZ: that is 帮助; not TJ: 推荐)
    "hbtj",  # 汇报统计
    "bzhb",  # 本周汇报
    "smhb",  # 谁没汇报
)
WORDS_EN = ("week", "stats", "who", "status")
# The same words as a question ("谁没汇报啊", "本周汇报情况怎么样") or with a code after them
# ("统计 HX0101", "week hx0102"); tried only on text no keyword claimed.
_PARTICLE = r"(?:怎么样|如何|呢|啊|吗)*"
_CODE = r"[a-z]+[0-9][a-z0-9]*"
_ASKED = re.compile(
    rf"^(?:请问)?(?:{'|'.join(sorted(WORDS_ZH + WORDS_EN, key=len, reverse=True))})"
    rf"{_PARTICLE}(?:[\s:：,，]*({_CODE}))?[\s?？。.!！~～]*$"
)
# After 查询 or a word above: an organisation's code and nothing more.
_CODE_ONLY = re.compile(rf"^[\s:：,，]*({_CODE})[\s?？。.!！~～]*$")
_NOTHING = re.compile(rf"^{_PARTICLE}[\s?？。.!！~～]*$")


def code_in(folded_args: str) -> str | None:
    """The organisation code that is all the text after a keyword, if it is one."""
    match = _CODE_ONLY.match(folded_args)
    return match.group(1).upper() if match else None


async def week(msg: Message, ctx: Context) -> None:
    """汇报情况 / 本周 / ...: the sender's branch or subtree; their own record otherwise."""
    if not await show_home(ctx):
        await own_record(ctx)


async def week_or_report(msg: Message, ctx: Context) -> None:
    """汇报情况 HX0101 / 汇报情况怎么样: the week; any other text after 汇报情况 is a report
    that begins with those words ("汇报情况：今天走访5户"), taken as 汇报 would take it."""
    rest = msg.text.folded[msg.args_at :]
    code = code_in(rest)
    if code is not None:
        await show_code(ctx, code)
    elif _NOTHING.match(rest):
        await week(msg, ctx)
    else:
        at = len(_REPORT)  # 汇报情况 and 汇报统计 begin with it
        whole = dataclasses.replace(
            msg, args=msg.text.original_from(at), args_at=at, keyword=_REPORT
        )
        ctx.handled_as = "deed"
        await deeds.report(whole, ctx)


async def asked(msg: Message, ctx: Context) -> bool:
    """The words above as a question or followed by a code, in text no keyword claimed."""
    match = _ASKED.match(msg.text.folded)
    if match is None:
        return False
    if match.group(1):
        await show_code(ctx, match.group(1).upper())
    else:
        await week(msg, ctx)
    return True


async def show_home(ctx: Context, head: str = "") -> bool:
    """The week of the sender's own branch (a secretary) or subtree (a leader, an admin);
    False when they run none."""
    grants = home_grants(ctx, Action.BRANCH_WEEK)
    if not grants:
        return False
    grant = grants[0]
    monday = week_start(ctx.local_day(grant))
    if grant.role is Role.SECRETARY:
        figures = await ctx.repos.reports.branch_week(grant.org_id, monday, _next(monday))
        ctx.say(_branch_text(ctx.texts, grant.org_name, figures, head))
    else:
        below = await ctx.repos.reports.subtree_week(grant.org_id, monday, _next(monday))
        ctx.say(_subtree_text(ctx.texts, grant.org_name, below, head))
    return True


async def show_code(ctx: Context, code: str) -> None:
    """An organisation's week, by code, to its secretary and the leaders above it. Anyone
    else hears only which role it needs, not whether or what the organisation is."""
    home = home_grants(ctx, Action.BRANCH_WEEK)
    org = await ctx.repos.orgs.by_code(code) if home else None  # nobody else may probe codes
    if home and org is None:
        ctx.reply("week.unknown", code=code, example=home[0].org_code)
        return
    if org is None or not await allowed(ctx, Action.BRANCH_WEEK, org.id):
        refuse(ctx, Refusal(Action.BRANCH_WEEK, NEEDS[Action.BRANCH_WEEK], None))
        return
    zone = ZoneInfo(org.timezone) if org.timezone else ctx.settings.zone
    monday = week_start(ctx.now().astimezone(zone).date())
    figures = await ctx.repos.reports.branch_week(org.id, monday, _next(monday))
    if figures.members:  # an organisation with members of its own: a branch
        ctx.say(_branch_text(ctx.texts, org.name, figures, ""))
        return
    below = await ctx.repos.reports.subtree_week(org.id, monday, _next(monday))
    ctx.say(_subtree_text(ctx.texts, org.name, below, ""))


def _next(monday: date) -> date:
    return monday + timedelta(days=7)


def _branch_text(texts: Texts, org: str, week: BranchWeek, head: str) -> str:
    if week.members == 0:
        return head + texts.get("week.no_members", org=org)
    text = head + texts.get(
        "week.branch", org=org, deeds=week.deeds, reporters=week.reporters, members=week.members
    )
    if week.silent:
        text += fit(text, texts, "week.silent", week.silent, week.members - week.reporters)
    else:
        text += texts.get("week.all_reported")
    if week.active:
        items = [texts.get("week.active_item", name=n, count=c) for n, c in week.active]
        text += fit(text, texts, "week.active", items, week.reporters, required=False)
    return text


def _subtree_text(texts: Texts, org: str, below: SubtreeWeek, head: str) -> str:
    if below.units == 0:
        return head + texts.get("week.subtree_empty", org=org)
    text = head + texts.get(
        "week.subtree",
        org=org,
        units=below.units,
        deeds=below.deeds,
        reporters=below.reporters,
        members=below.members,
    )
    inactive = [u.name for u in below.rows if u.reporters == 0]
    if inactive:
        text += fit(text, texts, "week.inactive", inactive, below.inactive)
    others = [
        texts.get("week.unit_item", name=u.name, reporters=u.reporters, members=u.members)
        for u in below.rows
        if u.reporters
    ]
    if others:
        text += fit(
            text, texts, "week.others", others, below.units - below.inactive, required=False
        )
    return text


def fit(
    before: str, texts: Texts, key: str, names: list[str], count: int, required: bool = True
) -> str:
    """The sentence `key` naming as many of `names` (of `count`) as fit two SMS."""
    return fit_names(
        before,
        lambda listed: texts.get(key, names=listed, count=count),
        names,
        count,
        texts.get("list.separator"),
        texts.get("week.more"),
        MAX_SEGMENTS,
        required=required,
    )


ROUTES = [
    Route("branch_report", week, zh=WORDS_ZH, en=WORDS_EN, whole=True),
    # Longer than 汇报, so they win over it; a report beginning with them goes on to 汇报.
    Route("branch_report", week_or_report, zh=("汇报情况", "汇报统计")),
]
INTERCEPTORS = [("branch_report", asked)]
