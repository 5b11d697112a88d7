"""The roster of a subtree as files in the import format (bot/roster.py reads them back
unchanged): organisations and people, as CSV or XLSX, every cell neutralised against
formulas (bot/exports.py), headers in the reader's language (the importer knows both).

People are listed by their SMS number, the roster's key; someone without a name or without
a phone number (a Telegram-only villager) cannot be written in the import format and is left
out, which a re-import leaves untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import phonenumbers

from bot.exports import csv_text
from storage import roster_export
from storage.engine import Executor

ORG_HEADER = {
    "zh-CN": ("组织代码", "名称", "类型", "上级代码", "争创主题"),
    "en": ("code", "name", "kind", "parent_code", "theme"),
}
PEOPLE_HEADER = {
    "zh-CN": ("组织代码", "姓名", "手机", "角色"),
    "en": ("org_code", "name", "phone", "role"),
}
# Column widths of the downloaded sheets, in characters (code, name, kind or phone...).
WIDTHS = (14, 24, 12, 16, 24)


async def org_rows(db: Executor, root: int) -> list[tuple[str, ...]]:
    """The subtree's organisations, parents before children (the root's parent is named:
    re-importing it must not move it)."""
    rows = await roster_export.organisations(db, root)
    by_code = {r["code"]: r for r in rows}
    ordered: list[tuple[str, ...]] = []
    placed: set[str] = set()

    def place(code: str) -> None:
        if code in placed:
            return
        placed.add(code)
        row = by_code[code]
        if row["parent"] in by_code:
            place(row["parent"])
        ordered.append((row["code"], row["name"], row["kind"], row["parent"], row["theme"]))

    for code in by_code:
        place(code)
    return ordered


def phone_cell(e164: str, region: str) -> str:
    """A number as people type it: national digits for the deployment's own country (a
    `+` would make a spreadsheet read a formula, and bot/exports.py quote it), E.164 for
    any other; the importer reads both back to the same number."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.national_significant_number(number)
    return e164


async def people_rows(db: Executor, root: int, region: str) -> list[tuple[str, ...]]:
    rows = await roster_export.people(db, root)
    return [(r["code"], r["name"], phone_cell(r["value"], region), r["role"]) for r in rows]


def as_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """UTF-8 with a BOM, so Excel on Chinese Windows opens it as UTF-8."""
    return csv_text(header, rows, bom=True).encode("utf-8")
