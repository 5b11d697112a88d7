"""Lists of names cut to an SMS budget: as many as fit, then "等" (and others)."""

from __future__ import annotations

from collections.abc import Callable

from bot.segments import count_segments


def fit_names(
    before: str,
    render: Callable[[str], str],
    names: list[str],
    count: int,
    sep: str,
    more: str,
    segments: int = 2,
    *,
    required: bool = True,
) -> str:
    """`render(listed)` naming as many of `names` (of `count` in all) as fit in `segments`
    SMS after `before`, with `more` when some are left out. A `required` sentence shows at
    least one name (the list is the point of the message); another is left out, "", when
    not even one fits."""
    sentence = ""
    for shown in range(len(names), 0, -1):
        listed = sep.join(names[:shown]) + (more if shown < count else "")
        sentence = render(listed)
        if count_segments(before + sentence).segments <= segments:
            return sentence
    return sentence if required else ""
