"""Comments (评论 / PL) on a branch, and their moderation by the secretary.

A comment is stored without its author and its text leaves the message log (see
storage/comments.py). A secretary lists them (评论列表 / PLL), hides one (隐藏 / YC) and
publishes one held for review (公开 / GK); a leader may do so anywhere in their subtree.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from bot.normalize import has_words
from handlers import paging
from handlers.base import Context, Interceptor, Message, Resumer, Route
from handlers.limits import within
from handlers.permissions import Action, allowed, home_grants, require_home
from handlers.polls import held
from storage.polls import NewComment

LIST_LIMIT = 50  # shown a page at a time (handlers/paging.py); the CLI shows all


async def comment(msg: Message, ctx: Context) -> None:
    grants = home_grants(ctx, Action.COMMENT)
    if not grants:
        require_home(ctx, Action.COMMENT)  # answers the refusal
        return
    if not has_words(msg.args):
        ctx.reply("comment.empty")
        return
    if (
        await ctx.repos.comments.recent_from(ctx.sender, ctx.now())
        >= ctx.settings.comments_per_hour
    ):
        ctx.reply("poll.comment_limit", limit=ctx.settings.comments_per_hour)
        return
    # The count above sees finished messages only; a burst is stopped here, atomically.
    if not await within(ctx, "comment"):
        return
    grant = grants[0]
    is_held = held(ctx, msg.args)
    await ctx.repos.comments.add(
        NewComment(grant.org_id, msg.args, is_held, ctx.local_day(grant)),
        message_id=msg.id,
        marker="[comment]",
        poll_id=None,
    )
    ctx.reply("comment.held" if is_held else "comment.kept")


async def listing(msg: Message, ctx: Context) -> None:
    grant = require_home(ctx, Action.MODERATE_COMMENTS)
    if grant is None:
        return
    orgs = await ctx.repos.orgs.subtree_ids(grant.org_id)
    found = await ctx.repos.comments.for_orgs(orgs, limit=LIST_LIMIT)
    # Villagers' signed messages (留言) are listed apart; the public's voice points to them.
    unread = await ctx.repos.public_messages.count_new(orgs)
    pointer = ctx.texts.get("public_message.pointer", count=unread) if unread else ""
    if not found:
        ctx.say(ctx.texts.get("comment.none", org=grant.org_name) + pointer)
        return
    items = [
        ctx.texts.get(
            "comment.item",
            code=c.code,
            mark=ctx.texts.get("comment.mark_held") if c.status == "held" else "",
            body=c.body,
        )
        for c in found
    ]

    def head(joined: str) -> str:
        return ctx.texts.get("comment.listing", org=grant.org_name, count=len(found), items=joined)

    texts = paging.pages(ctx, head, items, " ")
    texts[-1] += pointer if paging.fits(texts[-1] + pointer) else ""
    await paging.say_pages(ctx, texts)


class Moderated(StrEnum):
    """What came of moderating a comment; the SMS reply and the console's note say it."""

    DONE = "done"
    UNKNOWN = "unknown"  # no such comment, or one outside the moderator's reach
    REFUSED = "refused"  # the moderator moderates nowhere


# Statuses a moderator may give a comment, and the reply that says it was given.
DONE_TEXT = {"hidden": "comment.hidden", "published": "comment.published"}


async def moderate(ctx: Context, code: str, status: str) -> tuple[Moderated, str]:
    """Hide a comment or publish one (held for review, or hidden before), if the sender may
    moderate where it was left: the one implementation behind 隐藏/公开 and the console's
    buttons. Returns the outcome and the comment's code as written back."""
    assert status in DONE_TEXT, status
    code = unicodedata.normalize("NFKC", code).strip().upper()  # "Ｋ７Ｑ２" too
    # A refusal must not tell whether a comment exists (12.9): who moderates nowhere is
    # refused before any lookup; a comment outside one's reach reads as none at all.
    if not home_grants(ctx, Action.MODERATE_COMMENTS):
        return Moderated.REFUSED, code
    found = await ctx.repos.comments.get(code)
    if found is None or not await allowed(ctx, Action.MODERATE_COMMENTS, found.org_id):
        return Moderated.UNKNOWN, code
    await ctx.repos.comments.set_status(found.code, status)
    return Moderated.DONE, found.code


async def hide(msg: Message, ctx: Context) -> None:
    await _moderate(msg, ctx, "hidden")


async def publish(msg: Message, ctx: Context) -> None:
    await _moderate(msg, ctx, "published")


async def _moderate(msg: Message, ctx: Context, status: str) -> None:
    if not unicodedata.normalize("NFKC", msg.args).strip():
        ctx.reply("comment.code_usage")
        return
    outcome, code = await moderate(ctx, msg.args, status)
    if outcome is Moderated.REFUSED:
        require_home(ctx, Action.MODERATE_COMMENTS)  # answers the refusal
    elif outcome is Moderated.UNKNOWN:
        ctx.reply("comment.unknown", code=code)
    else:
        ctx.reply(DONE_TEXT[status], code=code)


ROUTES: list[Route] = [
    Route("comment.list", listing, zh=("评论列表", "pll"), en=("comments",)),
    Route("comment", comment, zh=("评论", "pl"), en=("comment",)),
    # Not touching: "公开承诺..." is a report; a code in Latin letters may touch ("隐藏K7Q2").
    Route("comment.hide", hide, zh=("隐藏", "yc"), en=("hide",), touching=False),
    Route("comment.publish", publish, zh=("公开", "gk"), en=("approve",), touching=False),
]
INTERCEPTORS: list[tuple[str, Interceptor]] = []
RESUMERS: dict[str, Resumer] = {}
