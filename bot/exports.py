"""Files for spreadsheets: every export goes through here, so no cell can run as a formula.

A spreadsheet treats a cell that begins with `=`, `+`, `-` or `@` (and, in some programs, a
tab or a carriage return before them) as a formula: an option label such as
`=HYPERLINK(...)` or `+1+cmd|...` written by whoever created a poll would run on the
operator's machine when the export is opened. OWASP's remedy: prefix such a text cell with a
single quote, which spreadsheets show as text. Numbers are written as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
T = TypeVar("T")


def neutralise(cell: T) -> T | str:
    """The cell as a spreadsheet may safely read it: text that could start a formula gets a
    leading single quote; anything else is returned unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def safe_row(row: Iterable[object]) -> list[object]:
    return [neutralise(cell) for cell in row]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Iterable[object]]) -> None:
    """UTF-8 CSV with every cell neutralised (the header too: it may be translated)."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(safe_row(header))
        for row in rows:
            writer.writerow(safe_row(row))
