"""Organisations named the way people write them: "东坡村党支部", or just "东坡村".

A leader's command may name a branch by its name instead of its code. Names are found by
the start of what was typed, so the name may touch the text after it ("点评东坡村做得好").
"""

from __future__ import annotations

from storage.engine import Executor
from storage.models import Org
from storage.orgs import _COLUMNS, _org

# What people leave off a name: "东坡村" for 东坡村党支部, "青山镇" for 青山镇党委.
SUFFIXES = ("党支部", "党总支", "支部", "党委", "委员会", "委", "")
MIN_CHARS = 2  # one character names nothing
MAX_CHARS = 24  # longer than any organisation's name


async def named_at_start(db: Executor, text: str) -> list[tuple[Org, int]]:
    """Organisations whose name, whole or without its suffix (党支部, 党委...), begins
    `text`; each with how many characters of `text` named it, longest first."""
    prefixes = [text[:n] for n in range(MIN_CHARS, min(len(text), MAX_CHARS) + 1)]
    if not prefixes:
        return []
    names: dict[str, int] = {}
    for prefix in prefixes:
        for suffix in SUFFIXES:
            names[prefix + suffix] = max(names.get(prefix + suffix, 0), len(prefix))
    params = {f"n{i}": name for i, name in enumerate(names)}
    marks = ", ".join(f":{key}" for key in params)
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM organisations WHERE name IN ({marks})", params)
    found = [(_org(r), names[r["name"]]) for r in rows]
    # The longest reading wins: "东坡村党支部" over an organisation called "东坡村".
    return sorted(found, key=lambda pair: (-pair[1], pair[0].code))
