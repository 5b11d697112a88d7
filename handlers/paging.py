"""Lists that fit the phone: pages of at most two SMS segments, 更多 / MORE for the next.

A list (评论列表, 异议列表, 推荐列表, ...) is cut into pages that each fit PAGE_SEGMENTS
(so no reply, SMS or TwiML, grows past what Twilio accepts); the first is sent, the rest
are remembered for the sender a while (storage/sender_lists.py). 更多 is also help's page 2
(handlers/help.py): it continues the list the sender asked for in the last 30 minutes, and
once that list is done (or there is none) it means help again.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.segments import count_segments
from handlers.base import ASK_BACK_TTL, Context

PAGE_SEGMENTS = 2
MAX_PAGES = 20  # a list longer than 40 segments is for the CLI, not a phone
KIND = "more"
_CUT = "…"


def fits(text: str) -> bool:
    return count_segments(text).segments <= PAGE_SEGMENTS


def _cut_to_fit(frame: Callable[[str], str], item: str) -> str:
    """An item too long for a page of its own, shortened until the page fits."""
    if fits(frame(item)):
        return item
    low, high = 0, len(item)
    while low < high:  # the longest prefix that fits, by halving
        mid = (low + high + 1) // 2
        if fits(frame(item[:mid] + _CUT)):
            low = mid
        else:
            high = mid - 1
    return item[:low] + _CUT


def pages(ctx: Context, head: Callable[[str], str], items: list[str], sep: str) -> list[str]:
    """`items` joined by `sep` into `head(joined)` pages of at most PAGE_SEGMENTS each; every
    page but the last ends by saying how to get the next."""
    more = ctx.texts.get("paging.more")
    done: list[str] = []
    current: list[str] = []
    for item in items:
        if current and not fits(head(sep.join([*current, item])) + more):
            done.append(head(sep.join(current)) + more)
            current = []
            if len(done) == MAX_PAGES:
                return done
        if not current:
            item = _cut_to_fit(lambda text: head(text) + more, item)
        current.append(item)
    if current:
        done.append(head(sep.join(current)))
    return done


async def say_pages(ctx: Context, texts: list[str]) -> None:
    """Send the first page; remember the rest for 更多."""
    ctx.say(texts[0])
    if len(texts) > 1:
        payload = {"pages": texts[1:]}
        await ctx.repos.lists.remember(ctx.sender.address, KIND, payload, ctx.now() + ASK_BACK_TTL)
    else:
        await ctx.repos.lists.forget(ctx.sender.address, KIND)


async def say_next(ctx: Context) -> bool:
    """The next page of the sender's last list, if one waits; False when none does."""
    waiting = await ctx.repos.lists.recall(ctx.sender.address, KIND, ctx.now())
    if not waiting or not waiting.get("pages"):
        return False
    await say_pages(ctx, [str(p) for p in waiting["pages"]])
    return True
