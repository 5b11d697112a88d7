"""Charts drawn on the server as inline SVG: no script, no library, no CDN, a few hundred
bytes each, readable on a cheap phone and by a screen reader (each has a title and an
aria-label saying what it shows; the figures are also printed beside the bars).

The SVGs scale to their container (viewBox, width 100%), so they never push a 360-px page
sideways.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

_BAR_HEIGHT = 22
_GAP = 8
_WIDTH = 320
_LABEL_WIDTH = 96


def bars(
    items: Sequence[tuple[str, float, str]], title: str, *, highlight: int | None = None
) -> Markup:
    """Horizontal bars, one per (label, share 0..1, figure text): a closed poll's options
    with their shares, a branch's categories. `highlight`: the index drawn in the strong
    colour (the leading option)."""
    height = len(items) * (_BAR_HEIGHT + _GAP) + _GAP
    span = _WIDTH - _LABEL_WIDTH - 56
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    ]
    for index, (label, share, figure) in enumerate(items):
        y = _GAP + index * (_BAR_HEIGHT + _GAP)
        width = max(0.0, min(1.0, share)) * span
        strong = " strong" if index == highlight else ""
        parts.append(
            f'<text x="0" y="{y + 15}" class="label">{escape(_clip(label, 7))}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{span}" height="{_BAR_HEIGHT}" '
            f'class="track"/>'
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{_BAR_HEIGHT}" '
            f'class="bar{strong}"/>'
            f'<text x="{_LABEL_WIDTH + span + 6}" y="{y + 15}" class="figure">'
            f"{escape(figure)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(values: Sequence[int], labels: Sequence[str], title: str) -> Markup:
    """A small column chart of a weekly series (12 weeks of members who reported), the
    last column the current week. Labels name the first and the last column only."""
    if not values:
        return Markup("")
    height, top, foot = 72, 6, 16
    plot = height - top - foot
    step = _WIDTH / len(values)
    peak = max(values) or 1
    parts = [
        f'<svg class="chart trend" viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    ]
    for index, value in enumerate(values):
        bar = plot * value / peak
        current = " strong" if index == len(values) - 1 else ""
        parts.append(
            f'<rect x="{index * step + 2:.1f}" y="{top + plot - bar:.1f}" '
            f'width="{step - 4:.1f}" height="{max(bar, 1):.1f}" class="bar{current}">'
            f"<title>{escape(labels[index])}: {value}</title></rect>"
        )
    parts.append(
        f'<text x="0" y="{height - 3}" class="label">{escape(labels[0])}</text>'
        f'<text x="{_WIDTH}" y="{height - 3}" class="label" text-anchor="end">'
        f"{escape(labels[-1])}</text></svg>"
    )
    return Markup("".join(parts))


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
