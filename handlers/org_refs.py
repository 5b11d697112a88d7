"""An organisation named in a command by its code (HX0101) or its name (东坡村党支部, 东坡村).

Leaders name the branch they act on; a name is what they remember, a code what the help
shows. Both are read here, once for every command that takes one.
"""

from __future__ import annotations

import re

from handlers.base import Context
from handlers.permissions import Action, allowed
from storage.models import Org
from storage.org_names import named_at_start

_SEPARATORS = " \t\n,，:：、;；"
# A code: letters then at least one digit (HX0101, hx0101t), not running into more Latin.
CODE = re.compile(r"([a-z][a-z0-9_-]*\d[a-z0-9_-]*)(?![a-z0-9])")


def skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SEPARATORS:
        at += 1
    return at


async def by_name(ctx: Context, text: str, action: Action) -> tuple[Org, int] | None:
    """The organisation whose name begins folded `text`, with where the rest begins; when
    two share the name, the one the sender may act in. None (nothing answered) if no name
    is there; an ambiguous name is answered and also gives None with `ctx.replies` set."""
    found = await named_at_start(ctx.repos.db, text)
    if not found:
        return None
    longest = found[0][1]
    best = [org for org, n in found if n == longest]
    if len(best) > 1:
        mine = [org for org in best if await allowed(ctx, action, org.id)]
        best = mine or best
    if len(best) > 1:
        ctx.reply(
            "org_ref.ambiguous",
            name=text[:longest],
            options=ctx.texts.get("list.separator").join(f"{o.code}{o.name}" for o in best[:5]),
        )
        return None
    return best[0], skip(text, longest)


async def named(ctx: Context, text: str, action: Action) -> tuple[Org, int] | str | None:
    """An organisation at the start of folded `text`, by code or by name, with where the
    rest begins. Returns the code typed (str) when it names no organisation, None when
    nothing names one (or an ambiguous name was answered: see `ctx.replies`)."""
    code = CODE.match(text)
    if code is not None:
        org = await ctx.repos.orgs.by_code(code.group(1))
        if org is not None:
            return org, skip(text, code.end())
        return code.group(1).upper()
    return await by_name(ctx, text, action)
