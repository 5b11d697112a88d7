"""My record (查询 / CX / ME): a member's reports by category, this week and all time.

`查询 HX0101` shows that organisation's week to whoever may see it, and a leader, who has
no branch of their own, sees the week below them after their own figures (branch_report).
"""

from __future__ import annotations

import dataclasses

from bot.clock import week_start
from handlers import deeds
from handlers.base import MEMBER_ROLES, Context, Message, Route
from handlers.permissions import Action, home_grants
from storage.models import CATEGORIES, Category, CategoryCount, Role


async def _counts(ctx: Context) -> dict[Category | None, CategoryCount] | None:
    """The sender's reports by category, or None when they keep no record."""
    grants = home_grants(ctx, Action.RECORD)
    if not grants:
        return None
    monday = week_start(ctx.local_day(grants[0]))
    assert ctx.sender.person_id is not None  # a member has a person
    return {c.category: c for c in await ctx.repos.deeds.by_category(ctx.sender.person_id, monday)}


async def own_line(ctx: Context) -> str:
    """One sentence of the sender's own figures, or "" when they have not reported."""
    counts = await _counts(ctx)
    if not counts:
        return ""
    week = sum(c.this_week for c in counts.values())
    total = sum(c.total for c in counts.values())
    return ctx.texts.get("week.own", week=week, total=total) if total else ""


async def own_record(ctx: Context) -> None:
    counts = await _counts(ctx)
    if counts is None:
        public = ctx.sender.grants_with(Role.PUBLIC)
        if public:
            ctx.reply("record.public", name=public[0].org_name)
        else:
            ctx.reply("record.stranger")
        return
    week = sum(c.this_week for c in counts.values())
    total = sum(c.total for c in counts.values())
    if total == 0:
        ctx.reply("record.none")
        return
    parts = []
    for category in (*CATEGORIES, None):
        c = counts.get(category)
        if c is None and category is None:
            continue
        label = ctx.texts.get(f"category.short.{category.value if category else 'none'}")
        parts.append(
            ctx.texts.get(
                "record.item", label=label, week=c.this_week if c else 0, total=c.total if c else 0
            )
        )
    ctx.reply(
        "record.summary", week=week, total=total, items=ctx.texts.get("list.separator").join(parts)
    )


async def my_record(msg: Message, ctx: Context) -> None:
    from handlers import branch_report  # imported here: it falls back on own_record

    rest = msg.text.folded[msg.args_at :]
    if branch_report.query_is_a_report(rest) and ctx.sender.is_member:
        # "查询了低保政策，帮王大爷办了手续": a member's report, taken as the default would.
        whole = dataclasses.replace(msg, args=msg.text.original_from(0), args_at=0, keyword=None)
        ctx.handled_as = "deed.free_text"
        await deeds.report(whole, ctx)
        return
    code = branch_report.code_in(rest)
    ask = branch_report.Ask(0, code) if code else branch_report.parse(rest)
    if ask is None and rest:
        ask = await branch_report.named(ctx, rest)  # 查询 东坡村
    if ask is not None:
        if not await branch_report.show(ctx, ask):
            await own_record(ctx)
        return
    if not ctx.sender.grants_with(*MEMBER_ROLES):  # a leader or admin: no branch of their own
        if await branch_report.show_home(ctx, head=await own_line(ctx)):
            return
    await own_record(ctx)


ROUTES = [
    Route("record", my_record, zh=("查询", "cx"), en=("me",), whole=True),
    # 查询 HX0101 / 查询 东坡村: an organisation's week. Touching, so "查询我的记录" is not
    # a report ("查询了…" still is, above).
    Route("record", my_record, zh=("查询", "cx")),
]
