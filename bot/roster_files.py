"""The roster of a subtree as files in the import format (bot/roster.py reads them back
unchanged): organisations and people, as CSV or XLSX, every cell neutralised against
formulas (bot/exports.py), headers in the reader's language (the importer knows both).

People are listed by their SMS number, the roster's key; someone without a name or without
a phone number (a Telegram-only villager) cannot be written in the import format and is left
out, which a re-import leaves untouched.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import phonenumbers

from bot.exports import safe_row
from storage.engine import Executor

# The CTE every subtree query starts from: the organisation :root and everything below.
SUBTREE = """
WITH RECURSIVE sub(id) AS (
    SELECT id FROM organisations WHERE id = :root
    UNION
    SELECT o.id FROM organisations o JOIN sub ON o.parent_id = sub.id
)
"""

ORG_HEADER = {
    "zh-CN": ("组织代码", "名称", "类型", "上级代码", "争创主题"),
    "en": ("code", "name", "kind", "parent_code", "theme"),
}
PEOPLE_HEADER = {
    "zh-CN": ("组织代码", "姓名", "手机", "角色"),
    "en": ("org_code", "name", "phone", "role"),
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def org_rows(db: Executor, root: int) -> list[tuple[str, ...]]:
    """The subtree's organisations, parents before children (the root's parent is named:
    re-importing it must not move it)."""
    rows = await db.fetch(
        SUBTREE
        + """
        SELECT o.code, o.name, o.kind, COALESCE(p.code, '') AS parent,
               COALESCE(o.theme, '') AS theme
        FROM organisations o JOIN sub ON sub.id = o.id
        LEFT JOIN organisations p ON p.id = o.parent_id
        ORDER BY o.code
        """,
        {"root": root},
    )
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
    rows = await db.fetch(
        SUBTREE
        + """
        SELECT o.code, p.name, a.value, r.role
        FROM roles r
        JOIN sub ON sub.id = r.org_id
        JOIN organisations o ON o.id = r.org_id
        JOIN people p ON p.id = r.person_id
        JOIN addresses a ON a.person_id = p.id AND a.kind = 'sms'
        WHERE p.name IS NOT NULL AND p.name <> ''
        ORDER BY o.code, r.role, p.name, a.value
        """,
        {"root": root},
    )
    return [(r["code"], r["name"], phone_cell(r["value"], region), r["role"]) for r in rows]


def as_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """UTF-8 with a BOM, so Excel on Chinese Windows opens it as UTF-8."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDE", (14, 24, 12, 16, 24), strict=False):
        sheet.column_dimensions[column].width = width
    sheet.append(safe_row(header))
    for row in rows:
        sheet.append(safe_row(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
