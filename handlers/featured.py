"""Featured deeds (典型): a secretary or leader puts a member's reported deed on the public
pages; the member is told and may take it down.

    推优 / TY / FEATURE                 the deeds the sender may feature, newest first, with
                                        their numbers (the branch's; a leader's subtree's)
    推优 HX0101                          a leader: that organisation's (and below)
    推优 57                              feature deed 57; its member is told by message
    撤回推优 / CHTY / UNFEATURE [57]      the member takes their deed down (the latest one if
                                        no number), and it is never featured again; an
                                        organiser who may feature it takes it down too

The deed numbers are the deeds' ids: the same in the 推优 list, in the console and in the
message to the member. They are not secret, so a deed the sender may not feature is answered
exactly as one that does not exist.

One implementation, several doors: `feature` and `withdraw` check permissions, do the work
and return a `Result`; `render` makes its reply text. The SMS/Telegram door below and the
console call the same functions. `candidates` is what the 推优 list shows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.everyday import everyday_kind
from bot.messages import Outbound
from bot.normalize import normalize
from bot.segments import count_segments
from bot.texts import Texts, texts_for
from handlers import deeds, org_refs, paging
from handlers.base import Context, Message, Route
from handlers.permissions import NEEDS, Action, Refusal, allowed, home_grants, refuse
from storage.featured import DeedView
from storage.models import Org, Role

RECENT_DAYS = 30  # the 推优 list covers this many days
MAX_LISTED = 30  # deeds in it, a page at a time (handlers/paging.py)
ITEM_CHARS = 12  # of a deed's words in the list
_NUMBER = re.compile(r"#?\s*(\d{1,12})\s*号?[\s。.!！]*")
# Seven digits or more, perhaps grouped ("138 0000 1101", "0731-1234567"): a phone number,
# even touching Chinese words ("联系13800001101"), which bot/privacy.py's log mask leaves.
_PHONE = re.compile(r"(?<!\d)\+?\d(?:[\s-]?\d){6,}(?!\d)")


class Outcome(StrEnum):
    """What came of featuring or withdrawing; each has its reply `featured.reply.<value>`."""

    FEATURED = "featured"  # on the public pages now, the member told
    FEATURED_UNTOLD = "featured_untold"  # ... but the member has no address to tell
    ALREADY = "already"
    NOT_FOUND = "not_found"  # no such deed, or not one the sender may feature
    DECLINED = "declined"  # its member withdrew it once: they said no
    NO_WORDS = "no_words"  # a photo alone: nothing a page can show
    EVERYDAY = "everyday"  # "收到", "好的": not a deed
    OWN = "own"  # nobody features their own deed
    HAS_PHONE = "has_phone"  # public pages never show a phone number
    NAMES_VILLAGER = "names_villager"  # ... nor a villager's name
    WITHDRAWN = "withdrawn"  # by its member
    UNFEATURED = "unfeatured"  # by an organiser
    NOT_FEATURED = "not_featured"
    NOTHING_FEATURED = "nothing_featured"  # the member has no deed on show
    REFUSED = "refused"  # the sender features nothing anywhere (needs a secretary)


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    deed_id: int | None = None
    deed: DeedView | None = None  # set when the sender may see it


# --- the one implementation ---------------------------------------------------------


async def feature(ctx: Context, deed_id: int) -> Result:
    """Feature deed `deed_id` on the public pages of its organisation, if the sender may (its
    branch's secretary, a leader above it, an admin) and the deed may be shown; tell its
    member through the outbox."""
    if not home_grants(ctx, Action.FEATURE_DEED):
        return Result(Outcome.REFUSED, deed_id)
    deed = await ctx.repos.featured.deed(deed_id)
    if deed is None or not await allowed(ctx, Action.FEATURE_DEED, deed.org_id):
        return Result(Outcome.NOT_FOUND, deed_id)
    if deed.person_id == ctx.sender.person_id:
        return Result(Outcome.OWN, deed_id, deed)
    if deed.featured:
        return Result(Outcome.ALREADY, deed_id, deed)
    if deed.declined:
        return Result(Outcome.DECLINED, deed_id, deed)
    if unfit := await _unfit(ctx, deed):
        return Result(unfit, deed_id, deed)
    featuring = await ctx.repos.featured.feature(
        deed_id=deed.id, org_id=deed.org_id, by=ctx.sender.person_id, now=ctx.now()
    )
    if featuring is None:  # featured (or declined) a moment ago by someone else
        again = await ctx.repos.featured.deed(deed_id)
        declined = again is not None and again.declined
        return Result(Outcome.DECLINED if declined else Outcome.ALREADY, deed_id, deed)
    told = await _tell_member(ctx, deed, featuring)
    return Result(Outcome.FEATURED if told else Outcome.FEATURED_UNTOLD, deed_id, deed)


def _words_unfit(body: str) -> Outcome | None:
    """Why these words may not go on a public page, as words alone tell."""
    if not body.strip():
        return Outcome.NO_WORDS
    if everyday_kind(normalize(body).folded) is not None:
        return Outcome.EVERYDAY
    if _PHONE.search(body):
        return Outcome.HAS_PHONE
    return None


def _shown_as_is(body: str) -> bool:
    """Whether the 推优 list offers a deed (a villager's name is found only on featuring)."""
    return _words_unfit(body) is None


async def _unfit(ctx: Context, deed: DeedView) -> Outcome | None:
    """Why a deed's words may not go on a public page, if they may not."""
    if unfit := _words_unfit(deed.body):
        return unfit
    if await ctx.repos.featured.names_a_villager(deed.org_id, deed.body):
        return Outcome.NAMES_VILLAGER
    return None


async def withdraw(ctx: Context, deed_id: int | None) -> Result:
    """Take a featured deed down. Its member may, always (and it is then never featured
    again); so may whoever may feature it. Without a number: the member's latest one."""
    me = ctx.sender.person_id
    if deed_id is None:
        deed_id = await ctx.repos.featured.latest_of(me) if me is not None else None
        if deed_id is None:
            return Result(Outcome.NOTHING_FEATURED)
    deed = await ctx.repos.featured.deed(deed_id)
    own = deed is not None and me is not None and deed.person_id == me
    if deed is None or not (own or await allowed(ctx, Action.FEATURE_DEED, deed.org_id)):
        return Result(Outcome.NOT_FOUND, deed_id)
    done = await ctx.repos.featured.withdraw(deed_id=deed.id, by=me, by_member=own, now=ctx.now())
    if not done:
        return Result(Outcome.NOT_FEATURED, deed_id, deed)
    return Result(Outcome.WITHDRAWN if own else Outcome.UNFEATURED, deed_id, deed)


async def candidates(ctx: Context, org: Org | None = None) -> tuple[str, list[DeedView]] | None:
    """The deeds the sender may feature, newest first, and whose they are (an organisation's
    name): the branch of a secretary, the subtree of a leader or admin, or `org` (and below)
    if named. None when they may feature none there."""
    grants = home_grants(ctx, Action.FEATURE_DEED)
    if not grants:
        return None
    if org is not None:
        if not await allowed(ctx, Action.FEATURE_DEED, org.id):
            return None
        root, name, subtree = org.id, org.name, True
    else:
        grant = grants[0]
        root, name, subtree = grant.org_id, grant.org_name, grant.role is not Role.SECRETARY
    since = ctx.local_day(grants[0]) - timedelta(days=RECENT_DAYS)
    found = await ctx.repos.featured.recent(
        root, subtree=subtree, since=since, limit=MAX_LISTED, exclude_person=ctx.sender.person_id
    )
    return name, [d for d in found if _shown_as_is(d.body)]


def render(texts: Texts, result: Result) -> str:
    """The reply that says what came of it, in one SMS."""
    if result.outcome is Outcome.REFUSED:
        role = texts.get(f"permission.role.{NEEDS[Action.FEATURE_DEED].value}")
        return texts.get("permission.refused", role=role)
    deed = result.deed
    return texts.get(
        f"featured.reply.{result.outcome.value}",
        number=result.deed_id,
        name=(deed.name if deed else None) or "?",
        org=deed.org_name if deed else "",
    )


async def _tell_member(ctx: Context, deed: DeedView, featuring: int) -> bool:
    """Tell the member their deed is on show and how to take it down, in one SMS."""
    to = await ctx.repos.featured.reachable(deed.person_id)
    if to is None:
        return False
    texts = texts_for(to.language or ctx.settings.language)
    date = texts.get("featured.date", month=deed.local_day.month, day=deed.local_day.day)

    def told(body: str) -> str:
        return texts.get("featured.told", date=date, body=body, org=deed.org_name)

    body = told(fit_one(texts, told, deed.body))
    await ctx.outbox.enqueue(f"featured:{featuring}:member", Outbound(to.address, body), ctx.now())
    return True


def fit_one(texts: Texts, frame: Callable[[str], str], words: str) -> str:
    """`words`, cut (with an ellipsis) until `frame(words)` fits one SMS; or, when the frame
    alone takes more (an English text naming a Chinese branch is UCS-2), as many as it takes."""
    cut = texts.get("featured.ellipsis")
    budget = max(1, count_segments(frame(cut)).segments)
    if count_segments(frame(words)).segments <= budget:
        return words
    low, high = 0, len(words)
    while low < high:  # the longest prefix that fits, by halving
        mid = (low + high + 1) // 2
        if count_segments(frame(words[:mid] + cut)).segments <= budget:
            low = mid
        else:
            high = mid - 1
    return words[:low] + cut


# --- the SMS / Telegram doors ---------------------------------------------------------


def _number(folded_args: str) -> int | None:
    match = _NUMBER.fullmatch(folded_args)
    return int(match.group(1)) if match else None


async def feature_door(msg: Message, ctx: Context) -> None:
    args = msg.text.folded[msg.args_at :].strip()
    if not args:
        await _list(ctx, None)
        return
    number = _number(args)
    if number is not None:
        ctx.say(render(ctx.texts, await feature(ctx, number)))
        return
    if not home_grants(ctx, Action.FEATURE_DEED):
        if ctx.sender.is_member:  # "推优 工作我也参加了": a member's report
            ctx.handled_as = "deed"
            await deeds.report(dataclasses.replace(msg, keyword=None, args_at=0), ctx)
        else:
            ctx.say(render(ctx.texts, Result(Outcome.REFUSED)))
        return
    named = await org_refs.named(ctx, args, Action.FEATURE_DEED)
    if isinstance(named, tuple) and not args[named[1] :].strip():
        await _list(ctx, named[0])
    elif not ctx.replies:  # (an ambiguous name was asked about)
        ctx.reply("featured.usage")


async def _list(ctx: Context, org: Org | None) -> None:
    found = await candidates(ctx, org)
    if found is None:
        needed = NEEDS[Action.FEATURE_DEED]
        refuse(ctx, Refusal(Action.FEATURE_DEED, needed, org.name if org else None))
        return
    name, listed = found
    if not listed:
        ctx.reply("featured.list_empty", org=name, days=RECENT_DAYS)
        return
    items = [_item(ctx.texts, d) for d in listed]

    def head(joined: str) -> str:
        return ctx.texts.get("featured.list", org=name, items=joined)

    await paging.say_pages(ctx, paging.pages(ctx, head, items, ctx.texts.get("list.separator")))


def _item(texts: Texts, deed: DeedView) -> str:
    body = " ".join(deed.body.split())
    if len(body) > ITEM_CHARS:
        body = body[:ITEM_CHARS] + texts.get("featured.ellipsis")
    return texts.get(
        "featured.item",
        number=deed.id,
        mark=texts.get("featured.mark") if deed.featured else "",
        name=deed.name or "?",
        body=body,
    )


async def withdraw_door(msg: Message, ctx: Context) -> None:
    args = msg.text.folded[msg.args_at :].strip()
    number = _number(args) if args else None
    if args and number is None:
        ctx.reply("featured.withdraw_usage")
        return
    ctx.say(render(ctx.texts, await withdraw(ctx, number)))


ROUTES = [
    # Not touching: "推优秀党员..." is a report; "推优57" and "推优 57" are this.
    Route("featured", feature_door, zh=("推优", "ty"), en=("feature",), touching=False),
    Route(
        "featured.withdraw",
        withdraw_door,
        zh=("撤回推优", "chty"),
        en=("unfeature",),
        touching=False,
    ),
]
