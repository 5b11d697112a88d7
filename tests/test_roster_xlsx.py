"""bot/roster.py reads workbooks too (the console's upload and `grassroots import-people
roster.xlsx`): the first sheet, row numbers as line numbers, numbers typed as numbers, and
cells quoted by bot/exports.py read back as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.roster import (
    PEOPLE_COLUMNS,
    PEOPLE_REQUIRED,
    RosterFileError,
    Upload,
    import_orgs,
    import_people,
    read_rows,
)
from storage.repositories import Repositories
from tests.test_roster import NOW, ORGS_ZH, PEOPLE_ZH, counts, roles_of, write


def workbook(path: Path, text: str, numbers: bool = False) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in text.splitlines():
        cells: list[object] = line.split(",")
        if numbers and str(cells[2]).isdigit():
            cells[2] = int(str(cells[2]))  # Excel keeps a typed phone as a number
        sheet.append(cells)
    book.save(path)
    return path


async def test_a_workbook_imports_as_its_csv_does(repos: Repositories, tmp_path: Path) -> None:
    orgs = await import_orgs(repos, workbook(tmp_path / "orgs.xlsx", ORGS_ZH), NOW)
    people = await import_people(
        repos, workbook(tmp_path / "people.xlsx", PEOPLE_ZH, numbers=True), NOW
    )
    assert (orgs.imported, orgs.errors, people.imported, people.errors) == (4, [], 4, [])
    assert await roles_of(repos, "+8613800001101") == {("HX0101", "member")}
    before = await counts(repos)
    again = await import_people(repos, write(tmp_path, "people.csv", PEOPLE_ZH), NOW)
    assert again.errors == [] and await counts(repos) == before


def test_rows_of_a_workbook_keep_their_sheet_row_numbers(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "p.xlsx",
        "姓名,手机,组织代码,角色\n李秀英,13800001101,HX0101,党员\n,,,\n王志强,'+8613800001102,HX0101,党员\n",
        numbers=True,
    )
    upload = Upload("上传.xlsx", path.read_bytes())  # the console's upload: bytes, a name
    expected = [
        (2, {"name": "李秀英", "phone": "13800001101", "org_code": "HX0101", "role": "党员"}),
        (4, {"name": "王志强", "phone": "+8613800001102", "org_code": "HX0101", "role": "党员"}),
    ]
    assert list(read_rows(path, PEOPLE_COLUMNS, PEOPLE_REQUIRED)) == expected
    assert list(read_rows(upload, PEOPLE_COLUMNS, PEOPLE_REQUIRED)) == expected


def test_a_damaged_workbook_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RosterFileError, match="not a readable XLSX workbook"):
        list(read_rows(path, PEOPLE_COLUMNS, PEOPLE_REQUIRED))
