"""Input normalisation: what the grammar matches against, mapped back to what was sent.

Keywords are matched on an NFKC, case-folded copy (so full-width `１` and `ＨＢ` work), but a
report is stored as the person wrote it: NFKC would turn Chinese full-width punctuation into
ASCII. `Normalized.original_from(i)` maps a position in the folded text back to the original.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Control characters other than line breaks and tabs carry no meaning in a text message;
# they are dropped so they cannot split a keyword or reach a terminal.
_KEEP_CONTROLS = {"\n", "\t"}


def _is_dropped(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat == "Cc":
        return ch not in _KEEP_CONTROLS
    return cat in ("Cf", "Cs", "Co") and ch not in ("\u200d",)  # ZWJ joins emoji


@dataclass(frozen=True, slots=True)
class Normalized:
    original: str
    folded: str  # NFKC, case-folded, controls dropped, trimmed
    _starts: tuple[int, ...]  # for each folded char: index of its source char in original

    def original_from(self, index: int) -> str:
        """The original text from the char that produced folded[index], trimmed."""
        if index >= len(self.folded):
            return ""
        return clean(self.original[self._starts[index] :])

    @property
    def is_empty(self) -> bool:
        return not self.folded

    @property
    def has_words(self) -> bool:
        return has_words(self.folded)


def has_words(text: str) -> bool:
    """True when the text holds letters or digits, not only emoji or punctuation."""
    return any(unicodedata.category(c)[0] in "LN" for c in text)


def clean(text: str) -> str:
    """The original text without control characters, trimmed; what is stored as content."""
    return "".join(c for c in text if not _is_dropped(c)).strip()


def normalize(text: str) -> Normalized:
    folded: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(text):
        if _is_dropped(ch):
            continue
        for out in unicodedata.normalize("NFKC", ch).casefold():
            folded.append(out)
            starts.append(i)
    # Trim, keeping the index map aligned.
    lo, hi = 0, len(folded)
    while lo < hi and folded[lo].isspace():
        lo += 1
    while hi > lo and folded[hi - 1].isspace():
        hi -= 1
    return Normalized(text, "".join(folded[lo:hi]), tuple(starts[lo:hi]))
