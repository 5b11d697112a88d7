"""Registration of the public: 加入 <code> / JR / JOIN makes the sender a villager of a branch.

Members and secretaries come from the roster; this only adds the public role. Villagers
misspell codes, so an unknown code is answered with the nearest codes or names.
"""

from __future__ import annotations

import asyncio
import difflib

from handlers.base import MEMBER_ROLES, Context, Message, Route
from storage.models import JOINABLE_KINDS, Org, Role

MAX_SUGGESTIONS = 3
# A code is a few characters and a branch's name a dozen: anything longer is not a code,
# and is answered at once rather than compared with every organisation.
MAX_TYPED = 20
# Candidates fetched each way (codes after each prefix and below, names by first/last
# character): what is compared stays bounded however many organisations the county has.
CANDIDATES_PER_WAY = 30
MAX_CANDIDATES = 10 * CANDIDATES_PER_WAY  # the bound OrgRepository.join_candidates keeps


def suggest(query: str, orgs: list[Org]) -> list[Org]:
    """Joinable organisations whose code or name is close to what was typed."""
    joinable = sorted((o for o in orgs if o.kind in JOINABLE_KINDS), key=lambda o: o.code)
    upper = query.upper()
    scored = [(difflib.SequenceMatcher(None, upper, o.code).ratio(), o) for o in joinable]
    # Closest first; equally close codes in code order, so answers are stable.
    found = [o for score, o in sorted(scored, key=lambda so: -so[0]) if score >= 0.5]
    found = found[:MAX_SUGGESTIONS]
    # Names: a typed fragment of the name ("青山村"), or a name close to it.
    for org in joinable:
        if len(found) >= MAX_SUGGESTIONS:
            break
        if org not in found and len(query) >= 2 and query in org.name:
            found.append(org)
    by_name = {o.name: o for o in joinable}
    for name in difflib.get_close_matches(query, by_name, MAX_SUGGESTIONS, 0.4):
        if len(found) < MAX_SUGGESTIONS and by_name[name] not in found:
            found.append(by_name[name])
    return found


async def example_code(ctx: Context) -> str | None:
    """A real code to show in an example: the sender's own branch, else this deployment's
    first branch; None when there is no branch to name (then ask the village for it)."""
    own = [g.org_code for g in ctx.sender.grants if g.org_kind in JOINABLE_KINDS]
    if own:
        return own[0]
    org = await ctx.repos.orgs.first_joinable(JOINABLE_KINDS)
    return org.code if org else None


def _listing(orgs: list[Org], separator: str) -> str:
    return separator.join(f"{o.code} {o.name}" for o in orgs)


async def join(msg: Message, ctx: Context) -> None:
    # The code as folded (NFKC): full-width "ＨＸ０１０１" from a phone keyboard is HX0101.
    words = msg.text.folded[msg.args_at :].split()
    query = words[0].upper() if words else ""
    if not query:
        if code := await example_code(ctx):
            ctx.reply("join.need_code", code=code)
        else:
            ctx.reply("join.need_code_ask")
        return
    if len(query) > MAX_TYPED:
        ctx.reply("join.too_long")
        return
    sep = ctx.texts.get("list.separator")
    org = await ctx.repos.orgs.by_code(query)
    if org is None:
        candidates = await ctx.repos.orgs.join_candidates(query, JOINABLE_KINDS, CANDIDATES_PER_WAY)
        # difflib is CPU work: off the event loop, so other senders and /healthz go on.
        found = await asyncio.to_thread(suggest, query, candidates)
        if found:
            ctx.reply("join.unknown", code=query, suggestions=_listing(found, sep))
        else:
            ctx.reply("join.unknown_none", code=query)
        return
    if org.kind not in JOINABLE_KINDS:
        branches = [o for o in await ctx.repos.orgs.children(org.id) if o.kind in JOINABLE_KINDS]
        ctx.reply(
            "join.not_branch",
            name=org.name,
            suggestions=_listing(branches[:MAX_SUGGESTIONS], sep) or "-",
        )
        return
    if any(g.org_id == org.id and g.role in MEMBER_ROLES for g in ctx.sender.grants):
        ctx.reply("join.already_member", name=org.name)
        return
    # The keyword's language (JOIN) answers this message only; a newcomer's stored language
    # is what their Telegram app says (first contact), or none: the deployment's default.
    created = await ctx.repos.people.join(
        ctx.sender.address, org.id, Role.PUBLIC, msg.inbound.language, ctx.now()
    )
    if not created:
        ctx.reply("join.already", name=org.name)
    elif org.theme:
        ctx.reply("join.welcome_theme", name=org.name, theme=org.theme)
    else:
        ctx.reply("join.welcome", name=org.name)


ROUTES = [Route("join", join, zh=("加入", "jr"), en=("join",), touching=False)]
