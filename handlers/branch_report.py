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

# How people ask, as a whole message: [看看][本周|上周][的][支部][的] and one of 汇报情况 /
# 统计 / 谁没汇报 / 没汇报的..., then particles (呢, 怎么样), an organisation's code or
# punctuation. A code may also come first ("HX0101汇报情况").
_CODE = r"[a-z]+[0-9][a-z0-9]*"
_LEAD = r"(?:请问|麻烦|帮我|我想|我要)?(?:看看|看一下|看下|查看|查一下|查查|查下|查询|了解一下)?"
_PERIOD = r"(?:(?:本|这一?|这个)(?:周|星期|礼拜)|(上一?周|上个?星期|上个?礼拜))?的?"
_SCOPE = r"(?:(?:我们|本|全)?支部|村里|大家|全体党员|党员们?|各支部)?的?"
_CORE = (
    r"(?:(?:汇报|报告)的?(?:情况|统计|汇总|进度|率|人数|名单)?"
    r"|情况|统计|汇总"
    r"|(?:谁|哪些人|哪几个人?|哪个|有谁|还有谁|有哪些人?)还?(?:没有|没|未)(?:交|发)?"
    r"(?:汇报|报)的?人?"
    r"|(?:没有|没|未)(?:交|发)?(?:汇报|报)的?(?:人|名单|有谁|是谁|有哪些人?)?)"
)
_EN = r"(?:(?:this |(last) )?week|stats|status|who(?: has(?: not|n't) reported)?)"
_PARTICLE = r"(?:怎么样|如何|呢|啊|吗|了吗|了没有)*"
_END = r"[\s?？。.!！~～]*$"
_ASKED = re.compile(
    rf"^(?:({_CODE})[\s:：,，的]*)?(?:{_LEAD}{_PERIOD}{_SCOPE}{_CORE}|{_EN}){_PARTICLE}"
    rf"(?:[\s:：,，]*({_CODE}))?{_END}"
)
# A period alone: "本周", "上周呢", "本周 HX0101".
_PERIOD_ONLY = re.compile(
    rf"^{_LEAD}(?:(?:本|这一?|这个)(?:周|星期|礼拜)|(上一?周|上个?星期|上个?礼拜))"
    rf"{_PARTICLE}(?:[\s:：,，]*({_CODE}))?{_END}"
)
_LONE_CODE = re.compile(rf"^({_CODE}){_END}")
# An organisation by name: "查询 东坡村", and from those who may see it "东坡村的情况".
_ABOUT_SUFFIX = r"的?(?:本周|这周|上周)?的?(?:汇报)?(?:情况|统计)"
_NAMED = re.compile(rf"^(.+?)(?:{_ABOUT_SUFFIX})?{_PARTICLE}{_END}")
_ABOUT = re.compile(rf"^(.+?){_ABOUT_SUFFIX}{_PARTICLE}{_END}")
# Whole-message words, so that the reply speaks the language of the word.
WORDS_ZH = (
    "汇报情况",
    "汇报统计",
    "本周",
    "本周汇报",
    "本周汇报情况",
    "这周",
    "这周汇报",
    "上周",
    "上周汇报",
    "上周汇报情况",
    "统计",
    "谁没汇报",
    "谁没有汇报",
    "没汇报的",
    "hbqk",  # 汇报情况 (not BZ: that is 帮助; not TJ: 推荐)
    "hbtj",  # 汇报统计
    "bzhb",  # 本周汇报
    "smhb",  # 谁没汇报
)
WORDS_EN = ("week", "last week", "stats", "status", "who")
# Words beginning with 汇报 (the deed keyword): longer, so they win over it; a report that
# begins with them ("汇报情况：今天走访5户") goes on to 汇报.
REPORT_WORDS = ("汇报情况", "汇报统计", "汇报率", "汇报名单", "汇报人数", "汇报进度", "汇报的情况")
# 查询 followed by an aspect particle is a verb in a report: "查询了低保政策，帮王大爷办了".
_QUERY_IN_A_REPORT = re.compile(r"^(?:了|过|到了)")


@dataclasses.dataclass(frozen=True, slots=True)
class Ask:
    weeks_back: int  # 0: this week; 1: last week (上周)
    code: str | None  # an organisation named by its code


def parse(folded: str) -> Ask | None:
    """What a whole message asks for, if it asks for a branch's week."""
    if match := _ASKED.match(folded):
        code = match.group(4) or match.group(1)
        back = 1 if (match.group(2) or match.group(3)) else 0
        return Ask(back, code.upper() if code else None)
    if match := _PERIOD_ONLY.match(folded):
        code = match.group(2)
        return Ask(1 if match.group(1) else 0, code.upper() if code else None)
    return None


def code_in(folded_args: str) -> str | None:
    """The organisation code that is all the text after a keyword, if it is one."""
    match = _LONE_CODE.match(folded_args.lstrip(" :：,，"))
    return match.group(1).upper() if match else None


async def show(ctx: Context, ask: Ask, head: str = "") -> bool:
    """Answer an Ask: the organisation named, else the sender's own branch or subtree.
    False when they run none (and named none)."""
    if ask.code is not None:
        await show_code(ctx, ask.code, ask.weeks_back)
        return True
    return await show_home(ctx, head, ask.weeks_back)


async def week(msg: Message, ctx: Context) -> None:
    """汇报情况 / 本周 / ...: the sender's branch or subtree; their own record otherwise."""
    if not await show(ctx, parse(msg.text.folded) or Ask(0, None)):
        await own_record(ctx)


async def week_or_report(msg: Message, ctx: Context) -> None:
    """汇报情况 [HX0101] / 汇报率怎么样: the week; any other text after these words is a
    report that begins with them, taken as 汇报 would take it."""
    ask = parse(msg.text.folded)
    if ask is not None:
        if not await show(ctx, ask):
            await own_record(ctx)
        return
    at = len(_REPORT)
    whole = dataclasses.replace(msg, args=msg.text.original_from(at), args_at=at, keyword=_REPORT)
    ctx.handled_as = "deed"
    await deeds.report(whole, ctx)


async def asked(msg: Message, ctx: Context) -> bool:
    """Text no keyword claimed that asks for a week ("这周谁还没交汇报", "统计 HX0101"), or
    a lone organisation code from someone who may see one."""
    folded = msg.text.folded
    ask = parse(folded)
    if ask is None and home_grants(ctx, Action.BRANCH_WEEK):
        if code := code_in(folded):
            ask = Ask(0, code)
        elif _ABOUT.match(folded):  # "东坡村的情况"
            ask = await named(ctx, folded)
    if ask is None:
        return False
    ctx.handled_as = "branch_report"
    if not await show(ctx, ask):
        await own_record(ctx)
    return True


async def named(ctx: Context, folded_args: str) -> Ask | None:
    """An organisation named by its name ("查询 东坡村", "查询 东坡村的情况"), looked up
    below the sender's home, for those who may see some week."""
    home = home_grants(ctx, Action.BRANCH_WEEK)
    match = _NAMED.match(folded_args.strip())
    if not home or match is None:
        return None
    code = await ctx.repos.reports.named_in(home[0].org_id, match.group(1).strip())
    return Ask(0, code) if code else None


def query_is_a_report(folded_args: str) -> bool:
    """ "查询了低保政策…": 查询 is the verb of a member's report, not the keyword."""
    return bool(_QUERY_IN_A_REPORT.match(folded_args))


async def show_home(ctx: Context, head: str = "", weeks_back: int = 0) -> bool:
    """The week of the sender's own branch (a secretary) or subtree (a leader, an admin);
    False when they run none."""
    grants = home_grants(ctx, Action.BRANCH_WEEK)
    if not grants:
        return False
    grant = grants[0]
    monday = week_start(ctx.local_day(grant)) - timedelta(days=7 * weeks_back)
    title = _title(ctx.texts, weeks_back)
    if grant.role is Role.SECRETARY:
        figures = await ctx.repos.reports.branch_week(grant.org_id, monday, _next(monday))
        ctx.say(_branch_text(ctx.texts, title, grant.org_name, figures, head))
    else:
        below = await ctx.repos.reports.subtree_week(grant.org_id, monday, _next(monday))
        ctx.say(_subtree_text(ctx.texts, title, grant.org_name, below, head))
    return True


async def show_code(ctx: Context, code: str, weeks_back: int = 0) -> None:
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
    monday = week_start(ctx.now().astimezone(zone).date()) - timedelta(days=7 * weeks_back)
    title = _title(ctx.texts, weeks_back)
    figures = await ctx.repos.reports.branch_week(org.id, monday, _next(monday))
    if figures.members:  # an organisation with members of its own: a branch
        ctx.say(_branch_text(ctx.texts, title, org.name, figures, ""))
        return
    below = await ctx.repos.reports.subtree_week(org.id, monday, _next(monday))
    ctx.say(_subtree_text(ctx.texts, title, org.name, below, ""))


def _title(texts: Texts, weeks_back: int) -> str:
    return texts.get("week.last" if weeks_back else "week.this")


def _next(monday: date) -> date:
    return monday + timedelta(days=7)


def _branch_text(texts: Texts, title: str, org: str, week: BranchWeek, head: str) -> str:
    if week.members == 0:
        return head + texts.get("week.no_members", title=title, org=org)
    text = head + texts.get(
        "week.branch",
        title=title,
        org=org,
        deeds=week.deeds,
        reporters=week.reporters,
        members=week.members,
    )
    if week.silent:
        text += fit(text, texts, "week.silent", week.silent, week.members - week.reporters)
    else:
        text += texts.get("week.all_reported")
    if week.active:
        items = [texts.get("week.active_item", name=n, count=c) for n, c in week.active]
        text += fit(text, texts, "week.active", items, week.reporters, required=False)
    return text


def _subtree_text(texts: Texts, title: str, org: str, below: SubtreeWeek, head: str) -> str:
    if below.units == 0:
        return head + texts.get("week.subtree_empty", title=title, org=org)
    text = head + texts.get(
        "week.subtree",
        title=title,
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
    Route("branch_report", week_or_report, zh=REPORT_WORDS),
]
INTERCEPTORS = [("branch_report", asked)]
