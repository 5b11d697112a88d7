"""Recommendation of model members (推荐 / TJ), the secretary's list and shortlist.

- 推荐 <姓名|编号> <理由>: anyone of a branch (villager, member, secretary) recommends a Party
  member of their branch. A name two members share, or one that matches nobody exactly
  (a typo), is answered with a numbered list and the reply "1"/"2" completes it.
- 推荐列表 [支部代码] [编号|姓名] (TJL): the round's recommendations counted per member, or the
  reasons given for one member (never who gave them).
- 入围 [支部代码] <编号|姓名>... (RW): the round's shortlist, which 公示 puts on notice.

In 推荐, a number means the one the bot listed to that sender (a "which one?" list, or the
secretary's 推荐列表), remembered per sender (12.9): never a roster position anyone could
walk through (推荐 1, 推荐 2, ...) to learn who is in the branch. The secretary's 推荐列表 and
入围 take 编号, the member's number in the branch's roster order, which the secretary sees.
A round lasts until the branch's next public notice.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import timedelta
from typing import Any

from bot.normalize import has_words
from handlers import org_refs, paging
from handlers.base import Context, Message, Route
from handlers.limits import within
from handlers.permissions import Action, check, home_grants, require_home
from storage.models import JOINABLE_KINDS, Org
from storage.recommendations import BranchMember

MAX_OPTIONS = 5  # names offered when asking which one was meant
MAX_LISTED = 50  # members in the secretary's list, a page at a time (handlers/paging.py)
MAX_REASONS = 50
MAX_SHORTLIST = 10
FUZZY_CUTOFF = 0.5  # one wrong character of a three-character name still matches
LISTED_KIND = "recommend"  # the sender's remembered list (storage/sender_lists.py)
LISTED_FOR = timedelta(days=1)  # a list read in the morning still counts in the evening

_SEPARATORS = " \t\n,，:：、;；"
_ORG_CODE = re.compile(r"([a-z]+\d+)(?![a-z0-9])")
_NUMBER = re.compile(r"(\d+)\s*号?")
_TOKEN = re.compile(r"[^\s,，:：、;；]+")
_ANSWER = re.compile(r"(\d+)\s*[.。]?")


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def args_of(msg: Message) -> str:
    """The text after the keyword, folded (positions map back through `original_at`)."""
    return msg.text.folded[msg.args_at :]


def skip_separators(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SEPARATORS:
        at += 1
    return at


def original_at(msg: Message, at: int) -> str:
    """The sender's own words from position `at` of `args_of(msg)` on: stored as written."""
    return msg.text.original_from(msg.args_at + skip_separators(args_of(msg), at))


async def target_org(msg: Message, ctx: Context, action: Action) -> tuple[Org, int] | None:
    """The branch a secretary's command acts on: a leading branch code (a leader names one
    of their subtree) or the sender's own. Returns it with where the rest of the text
    begins; None when it has answered (refused, or no such branch)."""
    args = args_of(msg)
    named = _ORG_CODE.match(args)
    if named:
        org = await ctx.repos.orgs.by_code(named.group(1))
        if org is None:
            ctx.reply("recommend.unknown_org", code=named.group(1).upper())
            return None
        if not await check(ctx, action, org.id, org.name):
            return None
        at = skip_separators(args, named.end())
    elif (by_name := await org_refs.by_name(ctx, args, action)) is not None:
        org, at = by_name  # 推荐列表 东坡村: a leader names the branch as people say it
        if not await check(ctx, action, org.id, org.name):
            return None
    elif ctx.replies:  # a name several organisations share: asked which
        return None
    else:
        grant = require_home(ctx, action)
        if grant is None:
            return None
        found = await ctx.repos.orgs.by_id(grant.org_id)
        assert found is not None
        org, at = found, 0
    if org.kind not in JOINABLE_KINDS:  # a leader's committee: which of its branches?
        ctx.reply("recommend.need_branch", org=org.name)
        return None
    return org, at


def by_number_or_name(query: str, members: list[BranchMember]) -> list[BranchMember]:
    """Members a secretary means by 编号 or by exact name."""
    number = _NUMBER.fullmatch(query)
    if number:
        return [m for m in members if m.number == int(number.group(1))]
    return [m for m in members if fold(m.name) == query]


def _options(ctx: Context, members: list[BranchMember]) -> str:
    return ctx.texts.get("recommend.option_sep").join(
        ctx.texts.get(
            "recommend.option",
            n=i,
            name=m.name,
            org=m.org_name,
            role=ctx.texts.get(f"recommend.role.{m.role.value}"),
        )
        for i, m in enumerate(members, 1)
    )


async def _remember(ctx: Context, numbered: dict[int, BranchMember]) -> None:
    """The numbers just listed to the sender, so that 推荐 <number> means these."""
    payload = {str(n): [m.org_id, m.person_id] for n, m in numbered.items()}
    await ctx.repos.lists.remember(ctx.sender.address, LISTED_KIND, payload, ctx.now() + LISTED_FOR)


async def _listed(ctx: Context, number: str, members: list[BranchMember]) -> BranchMember | None:
    """The member the bot listed to this sender under `number`, if any (and still there)."""
    listed = await ctx.repos.lists.recall(ctx.sender.address, LISTED_KIND, ctx.now())
    pick = (listed or {}).get(str(int(number)))
    return next((m for m in members if [m.org_id, m.person_id] == pick), None)


def _split_nominee(args: str, members: list[BranchMember]) -> tuple[str, int]:
    """The name or number at the start, and where the reason begins. A member's full name
    may touch the reason ("推荐王志强带头修路")."""
    number = _NUMBER.match(args)
    if number:
        return number.group(1), number.end()
    for name in sorted({fold(m.name) for m in members}, key=len, reverse=True):
        if name and name != "?" and args.startswith(name):
            return name, len(name)
    token = _TOKEN.match(args)
    return (token.group(0), token.end()) if token else ("", 0)


def _match(query: str, members: list[BranchMember]) -> tuple[list[BranchMember], bool]:
    """Members the query names, and whether exactly (by number or whole name); else the
    nearest names, for a typo ("王志刚" → 王志强) or a part ("志强")."""
    exact = by_number_or_name(query, members)
    if exact or query.isdigit():
        return exact, True
    names = sorted({fold(m.name) for m in members})
    near = difflib.get_close_matches(query, names, MAX_OPTIONS, FUZZY_CUTOFF)
    near += [n for n in names if len(query) >= 2 and query in n and n not in near]
    return [m for n in near for m in members if fold(m.name) == n][:MAX_OPTIONS], False


async def recommend(msg: Message, ctx: Context) -> None:
    grants = home_grants(ctx, Action.RECOMMEND)
    if not grants:
        require_home(ctx, Action.RECOMMEND)  # refuses, naming the role needed
        return
    args = args_of(msg)
    if not has_words(args):
        ctx.reply("recommend.usage")
        return
    members = await ctx.repos.recommendations.members(list(dict.fromkeys(g.org_id for g in grants)))
    query, reason_at = _split_nominee(args, members)
    if query.isdigit():  # a number the bot listed to this sender, never a roster position
        member = await _listed(ctx, query, members)
        if member is None:  # the same answer whoever the roster holds at that position
            ctx.reply("recommend.number_unlisted")
            return
        matches, exact = [member], True
    else:
        matches, exact = _match(query, members)
    others = [m for m in matches if m.person_id != ctx.sender.person_id]
    if exact and matches and not others:
        ctx.reply("recommend.self")
        return
    if not others:
        ctx.reply("recommend.not_found", query=query)
        return
    reason = original_at(msg, reason_at)
    if not has_words(reason):
        named = others[0].name if exact and len(others) == 1 else query
        ctx.reply("recommend.need_reason", name=named)
        return
    if exact and len(others) == 1:
        await _record(ctx, others[0], reason)
        return
    if exact:
        ctx.reply("recommend.pick", count=len(others), query=query, options=_options(ctx, others))
    else:
        ctx.reply("recommend.did_you_mean", query=query, options=_options(ctx, others))
    await _remember(ctx, dict(enumerate(others, 1)))
    await ctx.ask_back(
        "recommend.pick",
        {"options": [[m.org_id, m.person_id] for m in others], "reason": reason},
    )


async def resume_pick(msg: Message, ctx: Context, payload: dict[str, Any]) -> bool:
    """The answer to "which one did you mean?": a number from the list; anything else is
    not an answer and goes its normal way."""
    answer = _ANSWER.fullmatch(msg.text.folded)
    options = payload.get("options", [])
    if answer is None or not 1 <= int(answer.group(1)) <= len(options):
        return False
    org_id, person_id = options[int(answer.group(1)) - 1]
    if not await check(ctx, Action.RECOMMEND, org_id):
        return True
    member = next(
        (m for m in await ctx.repos.recommendations.members([org_id]) if m.person_id == person_id),
        None,
    )
    if member is None:  # left the branch meanwhile
        ctx.reply("recommend.usage")
        return True
    await _record(ctx, member, str(payload.get("reason", "")))
    return True


async def _record(ctx: Context, member: BranchMember, reason: str) -> None:
    assert ctx.sender.person_id is not None  # a role in the branch means a person
    if not await within(ctx, "recommend"):
        return
    round_no = await ctx.repos.recommendations.current_round(member.org_id)
    added = await ctx.repos.recommendations.add(
        org_id=member.org_id,
        round_no=round_no,
        nominee_id=member.person_id,
        recommender_id=ctx.sender.person_id,
        reason=reason,
        now=ctx.now(),
    )
    ctx.reply("recommend.recorded" if added else "recommend.already", name=member.name)


async def listing(msg: Message, ctx: Context) -> None:
    target = await target_org(msg, ctx, Action.LIST_RECOMMENDATIONS)
    if target is None:
        return
    org, at = target
    repo = ctx.repos.recommendations
    round_no = await repo.current_round(org.id)
    members = await repo.members([org.id])
    numbers = {m.person_id: m.number for m in members}
    query = args_of(msg)[at:].strip()
    if query:
        await _reasons(ctx, org, round_no, query, members)
        return
    tally = await repo.tally(org.id, round_no)
    if not tally:
        ctx.reply("recommend.list.empty", org=org.name)
        return
    items = [
        ctx.texts.get(
            "recommend.list.item", number=numbers.get(t.person_id, "-"), name=t.name, count=t.count
        )
        for t in tally[:MAX_LISTED]
    ]
    by_person = {m.person_id: m for m in members}
    await _remember(
        ctx,
        {
            by_person[t.person_id].number: by_person[t.person_id]
            for t in tally[:MAX_LISTED]
            if t.person_id in by_person
        },
    )
    total = sum(t.count for t in tally)

    def head(joined: str) -> str:
        return ctx.texts.get("recommend.list.summary", org=org.name, total=total, items=joined)

    await paging.say_pages(ctx, paging.pages(ctx, head, items, ctx.texts.get("list.separator")))


async def _reasons(
    ctx: Context, org: Org, round_no: int, query: str, members: list[BranchMember]
) -> None:
    found = by_number_or_name(query, members)
    if len(found) != 1:
        _unclear(ctx, query, found)
        return
    member = found[0]
    reasons = await ctx.repos.recommendations.reasons(org.id, round_no, member.person_id)
    if not reasons:
        ctx.reply("recommend.list.none_for", name=member.name)
        return

    def head(joined: str) -> str:
        return ctx.texts.get(
            "recommend.list.reasons",
            number=member.number,
            name=member.name,
            count=len(reasons),
            reasons=joined,
        )

    sep = ctx.texts.get("recommend.list.reason_sep")
    await paging.say_pages(ctx, paging.pages(ctx, head, reasons[:MAX_REASONS], sep))


def _unclear(ctx: Context, query: str, found: list[BranchMember]) -> None:
    if found:  # two members share the name: their numbers tell them apart
        numbered = ctx.texts.get("list.separator").join(
            ctx.texts.get("recommend.list.numbered", number=m.number, name=m.name) for m in found
        )
        ctx.reply("recommend.list.ambiguous", query=query, options=numbered)
    else:
        ctx.reply("recommend.list.unknown", query=query)


async def shortlist(msg: Message, ctx: Context) -> None:
    target = await target_org(msg, ctx, Action.SHORTLIST)
    if target is None:
        return
    org, at = target
    round_no = await ctx.repos.recommendations.current_round(org.id)
    sep = ctx.texts.get("recommend.shortlist.name_sep")
    queries = _TOKEN.findall(args_of(msg)[at:])
    if not queries:
        current = await ctx.repos.public_notices.candidates(org.id, round_no)
        if current:
            names = sep.join(c.name for c in current)
            ctx.reply("recommend.shortlist.current", org=org.name, names=names)
        else:
            ctx.reply("recommend.shortlist.empty", org=org.name)
        return
    members = await ctx.repos.recommendations.members([org.id])
    recommended = {t.person_id for t in await ctx.repos.recommendations.tally(org.id, round_no)}
    chosen: list[BranchMember] = []
    for query in queries:
        found = by_number_or_name(query, members)
        if len(found) != 1:
            _unclear(ctx, query, found)
            return
        if found[0].person_id not in recommended:
            ctx.reply("recommend.shortlist.not_recommended", name=found[0].name)
            return
        if found[0] not in chosen:
            chosen.append(found[0])
    if len(chosen) > MAX_SHORTLIST:
        ctx.reply("recommend.shortlist.too_many", max=MAX_SHORTLIST)
        return
    await ctx.repos.public_notices.set_shortlist(
        org.id, round_no, [m.person_id for m in chosen], ctx.now()
    )
    ctx.reply(
        "recommend.shortlist.set",
        org=org.name,
        names=sep.join(m.name for m in chosen),
        days=ctx.settings.notice_days,
    )


ROUTES = [
    Route("recommend.list", listing, zh=("推荐列表", "tjl", "tjlb"), en=("recs",)),
    # Not touching: "推荐2名入党积极分子" is a member's report, not a recommendation.
    Route("recommend", recommend, zh=("推荐", "tj"), en=("recommend",), touching=False),
    # Not touching: "入围了县优秀党员..." is a member's report, not a shortlist.
    Route("recommend.shortlist", shortlist, zh=("入围", "rw"), en=("shortlist",), touching=False),
]
RESUMERS = {"recommend.pick": resume_pick}
