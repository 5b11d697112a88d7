"""Files for spreadsheets: every export goes through here, so no cell can run as a formula.

A spreadsheet treats a cell that begins with `=`, `+`, `-` or `@` (and, in some programs, a
tab or a carriage return before them) as a formula: an option label such as
`=HYPERLINK(...)` or `+1+cmd|...` written by whoever created a poll would run on the
operator's machine when the export is opened. OWASP's remedy: prefix such a text cell with a
single quote, which spreadsheets show as text. Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TypeVar

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
T = TypeVar("T")


def neutralise(cell: T) -> T | str:
    """The cell as a spreadsheet may safely read it: text that could start a formula gets a
    leading single quote; anything else is returned unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def safe_row(row: Iterable[object]) -> list[object]:
    return [neutralise(cell) for cell in row]


def csv_text(header: Sequence[str], rows: Iterable[Iterable[object]], *, bom: bool = False) -> str:
    """CSV with every cell neutralised (the header too: it may be translated). `bom`: begin
    with a byte-order mark, so that Excel on Chinese Windows reads UTF-8 names as such."""
    out = io.StringIO(newline="")
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
    return out.getvalue()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Iterable[object]]) -> None:
    """csv_text, written UTF-8 to `path`."""
    path.write_text(csv_text(header, rows), encoding="utf-8", newline="")


def as_xlsx(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    widths: Sequence[int] = (),
) -> bytes:
    """One sheet: a frozen header row, then the rows, every cell neutralised; `widths` of
    the first columns, in characters."""
    from openpyxl import Workbook  # only where a workbook is made

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    sheet.append(safe_row(header))
    for row in rows:
        sheet.append(safe_row(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
