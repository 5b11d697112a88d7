"""My record (查询 / CX / ME): a member's reports by category, this week and all time."""

from __future__ import annotations

from bot.clock import week_start
from handlers.base import Context, Message, Route
from handlers.permissions import Action, home_grants
from storage.models import CATEGORIES, Role


async def my_record(msg: Message, ctx: Context) -> None:
    grants = home_grants(ctx, Action.RECORD)
    if not grants:
        public = ctx.sender.grants_with(Role.PUBLIC)
        if public:
            ctx.reply("record.public", name=public[0].org_name)
        else:
            ctx.reply("record.stranger")
        return
    monday = week_start(ctx.local_day(grants[0]))
    assert ctx.sender.person_id is not None  # a member has a person
    counts = {
        c.category: c for c in await ctx.repos.deeds.by_category(ctx.sender.person_id, monday)
    }
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


ROUTES = [Route("record", my_record, zh=("查询", "cx"), en=("me",), whole=True)]
