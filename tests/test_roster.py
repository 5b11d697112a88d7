"""Roster import from CSV (bot/roster.py) on both backends: headers in two languages, two
encodings, every bad row reported by line while the good rows land, idempotent re-imports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import roster
from bot.messages import Address, AddressKind
from bot.roster import (
    ORG_COLUMNS,
    ORG_REQUIRED,
    PEOPLE_COLUMNS,
    PEOPLE_REQUIRED,
    RosterFileError,
    import_orgs,
    import_people,
    read_rows,
)
from storage.models import Role
from storage.repositories import Repositories

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

ORGS_EN = """code,name,kind,parent_code,theme
HX0101,东坡村党支部,branch,HX01,脱贫致富
HX01,青山镇党委,Township,HX,
HX,和兴县委,county,,
HX0101T,东坡村团支部,youth_league,hx0101,青年创业
"""
PEOPLE_EN = """org_code,name,phone,role
HX0101,张建国,13800001100,secretary
hx0101,李秀英,13800001101,member
HX0101,赵大爷,13900001101,public
HX,赵明,13800000001,leader
"""
ORGS_ZH = """组织代码,名称,类型,上级代码,争创主题
HX0101,东坡村党支部,党支部,HX01,脱贫致富
HX0101T,东坡村团支部,团支部,HX0101,
HX01,青山镇党委,乡镇,HX,
HX,和兴县委,县委,,
"""
PEOPLE_ZH = """组织代码,姓名,手机,角色
HX0101,张建国,13800001100,书记
HX0101,李秀英,13800001101,党员
HX0101,赵大爷,13900001101,群众
HX0101T,李小龙,13800001201,党员
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def counts(repos: Repositories) -> dict[str, int]:
    return {
        table: await repos.db.fetchval(f"SELECT count(*) AS n FROM {table}")
        for table in ("organisations", "people", "addresses", "roles")
    }


async def tree(repos: Repositories) -> dict[str, tuple[str, str | None, str | None]]:
    """code -> (kind, parent code, theme)."""
    orgs = await repos.orgs.all()
    code_of = {o.id: o.code for o in orgs}
    return {o.code: (o.kind, code_of.get(o.parent_id), o.theme) for o in orgs}


async def roles_of(repos: Repositories, phone: str) -> set[tuple[str, str]]:
    record = await repos.people.resolve(Address(AddressKind.SMS, phone))
    return {(g.org_code, g.role.value) for g in record.grants}


async def test_english_headers_children_before_parents(repos: Repositories, tmp_path: Path) -> None:
    orgs = await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_EN), NOW)
    assert (orgs.rows, orgs.imported, orgs.errors) == (4, 4, [])
    assert await tree(repos) == {
        "HX": ("county", None, None),
        "HX01": ("township", "HX", None),
        "HX0101": ("branch", "HX01", "脱贫致富"),
        "HX0101T": ("youth_league", "HX0101", "青年创业"),
    }
    people = await import_people(repos, write(tmp_path, "people.csv", PEOPLE_EN), NOW)
    assert (people.rows, people.imported, people.errors) == (4, 4, [])
    assert await roles_of(repos, "+8613800001100") == {("HX0101", "secretary")}
    assert await roles_of(repos, "+8613800001101") == {("HX0101", "member")}
    assert await roles_of(repos, "+8613900001101") == {("HX0101", "public")}
    assert await roles_of(repos, "+8613800000001") == {("HX", "leader")}
    record = await repos.people.resolve(Address(AddressKind.SMS, "+8613800001101"))
    assert record.name == "李秀英"


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig", "utf-8"])
async def test_chinese_headers_and_words(
    repos: Repositories, tmp_path: Path, encoding: str
) -> None:
    # Excel on Chinese Windows: GB18030 (or UTF-8 with a BOM) and CRLF line ends.
    orgs_csv = write(tmp_path, "组织.csv", ORGS_ZH.replace("\n", "\r\n"), encoding)
    people_csv = write(tmp_path, "人员.csv", PEOPLE_ZH.replace("\n", "\r\n"), encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            orgs_csv.read_bytes().decode("utf-8")  # the test really feeds non-UTF-8 bytes
    orgs = await import_orgs(repos, orgs_csv, NOW)
    people = await import_people(repos, people_csv, NOW)
    assert (orgs.imported, orgs.errors, people.imported, people.errors) == (4, [], 4, [])
    assert await tree(repos) == {
        "HX": ("county", None, None),
        "HX01": ("township", "HX", None),
        "HX0101": ("branch", "HX01", "脱贫致富"),
        "HX0101T": ("youth_league", "HX0101", None),
    }
    assert await roles_of(repos, "+8613800001100") == {("HX0101", "secretary")}
    assert await roles_of(repos, "+8613800001101") == {("HX0101", "member")}
    assert await roles_of(repos, "+8613900001101") == {("HX0101", "public")}
    assert await roles_of(repos, "+8613800001201") == {("HX0101T", "member")}
    record = await repos.people.resolve(Address(AddressKind.SMS, "+8613800001201"))
    assert record.name == "李小龙"


BAD_ORGS = """code,name,kind,parent_code
HX,和兴县委,county,
HX01,青山镇党委,township,HX
HX 02,绿水镇党委,township,HX
镇03,红山镇党委,township,HX
HX04,,township,HX
HX05,白水镇党委,村委会,HX
HX01,青山镇党委（重复）,township,HX

HX0101,东坡村党支部,branch,HX99
HXA,甲村党支部,branch,HXB
HXB,乙村党支部,branch,HXA
HXS,自己村党支部,branch,HXS
HX0102,西岭村党支部,党支部,HX01
"""
BAD_ORG_LINES = {
    4: "bad code 'HX 02'",
    5: "bad code '镇03'",
    6: "name is empty",
    7: "unknown kind '村委会'",
    8: "repeats line 3",
    10: "unknown parent code HX99",
    11: "parent HXB would make HXA its own ancestor",
    12: "parent HXA would make HXB its own ancestor",
    13: "parent HXS is the row itself",
}


async def test_bad_org_rows_reported_by_line(repos: Repositories, tmp_path: Path) -> None:
    report = await import_orgs(repos, write(tmp_path, "orgs.csv", BAD_ORGS), NOW)
    assert [e.line for e in report.errors] == sorted(BAD_ORG_LINES)
    for error in report.errors:
        assert BAD_ORG_LINES[error.line] in error.reason
    assert (report.rows, report.imported) == (12, 3)
    assert await tree(repos) == {
        "HX": ("county", None, None),
        "HX01": ("township", "HX", None),
        "HX0102": ("branch", "HX01", None),
    }
    assert (await repos.orgs.by_code("HX01")).name == "青山镇党委"  # the repeat did not win


BAD_PEOPLE = """组织代码,姓名,手机,角色
HX0101,李秀英,13800001101,党员
HX9999,王志强,13800001102,党员
HX0101,王志强,1380000110,党员
HX0101,王志强,13800001102,村长

HX0101,,13800001103,党员
HX0101,刘桂兰,13800001103,群众
"""
BAD_PEOPLE_LINES = {
    3: "unknown organisation code 'HX9999'",
    4: "not a valid phone number: '1380000110'",
    5: "unknown role '村长'",
    7: "name is empty",
}


async def test_bad_people_rows_reported_by_line(repos: Repositories, tmp_path: Path) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    report = await import_people(repos, write(tmp_path, "people.csv", BAD_PEOPLE), NOW)
    assert [e.line for e in report.errors] == sorted(BAD_PEOPLE_LINES)
    for error in report.errors:
        assert BAD_PEOPLE_LINES[error.line] in error.reason
    assert (report.rows, report.imported) == (6, 2)
    assert await roles_of(repos, "+8613800001101") == {("HX0101", "member")}
    assert await roles_of(repos, "+8613800001103") == {("HX0101", "public")}
    assert await roles_of(repos, "+8613800001102") == set()
    assert (await counts(repos))["people"] == 2


async def test_phone_formats_are_one_person(repos: Repositories, tmp_path: Path) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    people_csv = write(
        tmp_path,
        "people.csv",
        """org_code,name,phone,role
HX0101,李秀英,138 0000 1101,member
HX0101,李秀英,+86-138-0000-1101,secretary
HX0101T,李秀英,008613800001101,member
""",
    )
    report = await import_people(repos, people_csv, NOW)
    assert (report.imported, report.errors) == (3, [])
    assert await counts(repos) == {"organisations": 4, "people": 1, "addresses": 1, "roles": 3}
    assert await repos.db.fetchval("SELECT value FROM addresses") == "+8613800001101"
    assert await roles_of(repos, "+8613800001101") == {
        ("HX0101", "member"),
        ("HX0101", "secretary"),
        ("HX0101T", "member"),
    }


async def test_reimport_changes_nothing(repos: Repositories, tmp_path: Path) -> None:
    orgs_csv = write(tmp_path, "orgs.csv", ORGS_ZH, "gb18030")
    people_csv = write(tmp_path, "people.csv", PEOPLE_ZH + "HX01,张建国,+86 138 0000 1100,领导\n")
    await import_orgs(repos, orgs_csv, NOW)
    await import_people(repos, people_csv, NOW)
    before = (await counts(repos), await repos.orgs.all(), await tree(repos))
    assert before[0] == {"organisations": 4, "people": 4, "addresses": 4, "roles": 5}
    again_orgs = await import_orgs(repos, orgs_csv, NOW)
    again_people = await import_people(repos, people_csv, NOW)
    assert (again_orgs.errors, again_people.errors) == ([], [])
    assert (again_orgs.notes, again_people.notes) == ([], [])
    assert (await counts(repos), await repos.orgs.all(), await tree(repos)) == before


async def test_reimport_cannot_make_a_cycle_through_stored_rows(
    repos: Repositories, tmp_path: Path
) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    report = await import_orgs(
        repos,
        write(tmp_path, "move.csv", "code,name,kind,parent_code\nHX,和兴县委,county,HX0101\n"),
        NOW,
    )
    assert [e.line for e in report.errors] == [2]
    assert (await tree(repos))["HX"] == ("county", None, None)


@pytest.mark.parametrize(
    ("importer", "header", "column"),
    [
        (import_orgs, "code,name,parent_code", "kind"),
        (import_orgs, "组织代码,类型,上级代码", "name"),
        (import_people, "组织代码,姓名,角色", "phone"),
        (import_people, "org_code,name,phone", "role"),
    ],
)
async def test_missing_column(
    repos: Repositories, tmp_path: Path, importer, header: str, column: str
) -> None:
    path = write(tmp_path, "roster.csv", header + "\nHX,和兴县委,county\n")
    with pytest.raises(RosterFileError, match=rf"missing column {column}\b") as caught:
        await importer(repos, path, NOW)
    assert str(path) in str(caught.value)
    assert (await counts(repos))["organisations"] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"", "empty file"), (b"\xff\xfe\xff\n", "neither UTF-8 nor GB18030")],
)
def test_unreadable_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "roster.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RosterFileError, match=message):
        list(read_rows(path, ORG_COLUMNS, ORG_REQUIRED))


def test_read_rows_keys_lines_and_blanks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "people.csv",
        "\ufeff 手机 ,备注,姓名,组织代码,角色\r\n"
        " 138 0000 1101 ,x, 李秀英 ,HX0101,党员\r\n"
        ",,,,\r\n\r\n"
        "13800001102,,王志强,HX0101\r\n",
    )
    assert list(read_rows(path, PEOPLE_COLUMNS, PEOPLE_REQUIRED)) == [
        (2, {"phone": "138 0000 1101", "name": "李秀英", "org_code": "HX0101", "role": "党员"}),
        (5, {"phone": "13800001102", "name": "王志强", "org_code": "HX0101", "role": ""}),
    ]


@pytest.mark.parametrize("chunk", [2, roster.CHUNK])
async def test_progress_totals_the_rows(
    repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(roster, "CHUNK", chunk)  # several transactions, or one
    steps: list[int] = []
    orgs = await import_orgs(
        repos, write(tmp_path, "orgs.csv", BAD_ORGS), NOW, progress=steps.append
    )
    assert all(step > 0 for step in steps)
    assert sum(steps) == orgs.rows == 12
    steps.clear()
    people = await import_people(
        repos,
        write(tmp_path, "people.csv", BAD_PEOPLE.replace("HX0101", "HX01")),
        NOW,
        progress=steps.append,
    )
    assert all(step > 0 for step in steps)
    assert sum(steps) == people.rows == 6
    assert people.imported == 2


async def test_replace_revokes_roles_no_longer_listed(repos: Repositories, tmp_path: Path) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    before = (
        "org_code,name,phone,role\n"
        "HX0101,张建国,13800001100,secretary\n"
        "HX0101,李秀英,13800001101,member\n"
        "HX0101,王志强,13800001102,member\n"
    )
    await import_people(repos, write(tmp_path, "before.csv", before), NOW)
    villager = Address(AddressKind.SMS, "+8613900001101")
    branch = await repos.orgs.by_code("HX0101")
    await repos.people.join(villager, branch.id, Role.PUBLIC, None, NOW)
    # A new secretary; 王志强 left; 张建国 stays as a member.
    after = (
        "org_code,name,phone,role\n"
        "HX0101,李秀英,13800001101,secretary\n"
        "HX0101,李秀英,13800001101,member\n"
        "HX0101,张建国,13800001100,member\n"
    )
    report = await import_people(repos, write(tmp_path, "after.csv", after), NOW, replace=True)
    assert report.revoked == 2  # 张建国's secretary role, 王志强's membership

    async def roles(phone: str) -> set[Role]:
        return {
            g.role for g in (await repos.people.resolve(Address(AddressKind.SMS, phone))).grants
        }

    assert await roles("+8613800001100") == {Role.MEMBER}
    assert await roles("+8613800001101") == {Role.SECRETARY, Role.MEMBER}
    assert await roles("+8613800001102") == set()
    assert (await repos.people.resolve(villager)).grants[0].role is Role.PUBLIC  # untouched
    # Without --replace nothing is taken away.
    plain = await import_people(repos, write(tmp_path, "plain.csv", before), NOW)
    assert plain.revoked == 0 and await roles("+8613800001101") == {Role.SECRETARY, Role.MEMBER}


async def test_a_row_never_turns_one_person_into_another(
    repos: Repositories, tmp_path: Path
) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    await import_people(repos, write(tmp_path, "people.csv", PEOPLE_ZH), NOW)
    steps: list[int] = []
    report = await import_people(
        repos,
        write(
            tmp_path,
            "wrong.csv",
            "组织代码,姓名,手机,角色\n"
            "HX0101T,陈党员,13800001101,党员\n"  # 李秀英's phone
            "HX0101T,周一,13800009001,党员\n"
            "HX0101T,吴二,13800009001,党员\n"  # one phone, two names
            "HX0101T,李秀英,13800001101,群众\n",  # refused with the rest of the phone's rows
        ),
        NOW,
        progress=steps.append,
    )
    assert [e.line for e in report.errors] == [2, 3, 4, 5]
    assert "周一 (line 3), 吴二 (line 4)" in report.errors[1].reason
    assert (report.imported, sum(steps)) == (0, 4)
    record = await repos.people.resolve(Address(AddressKind.SMS, "+8613800001101"))
    assert (record.name, {g.org_code for g in record.grants}) == ("李秀英", {"HX0101"})
    assert (await counts(repos))["people"] == 4


async def test_a_villager_who_joined_by_sms_gets_the_roster_name(
    repos: Repositories, tmp_path: Path
) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    villager = Address(AddressKind.SMS, "+8613900001101")
    branch = await repos.orgs.by_code("HX0101")
    await repos.people.join(villager, branch.id, Role.PUBLIC, None, NOW)
    report = await import_people(repos, write(tmp_path, "people.csv", PEOPLE_ZH), NOW)
    assert (report.errors, report.notes) == ([], [])
    assert (await repos.people.resolve(villager)).name == "赵大爷"
    # The renamed person is reported, with the old and the new name.
    renamed = await import_people(
        repos,
        write(
            tmp_path, "rename.csv", "org_code,name,phone,role\nHX0101,赵大伯,13900001101,public\n"
        ),
        NOW,
        rename=True,
    )
    assert [(n.line, n.key, n.params["old"], n.params["new"]) for n in renamed.notes] == [
        (2, "renamed", "赵大爷", "赵大伯")
    ]
    assert (await repos.people.resolve(villager)).name == "赵大伯"


async def test_changes_to_an_organisation_are_said(repos: Repositories, tmp_path: Path) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    report = await import_orgs(
        repos,
        write(
            tmp_path,
            "change.csv",
            "code,name,kind,parent_code\n"
            "HX0101,东坡村党总支,branch,HX01\n"
            "HX0101T,东坡村团支部,branch,HX\n",
        ),
        NOW,
    )
    assert report.errors == []
    assert [(n.line, n.reason) for n in report.notes] == [
        (2, "HX0101 renamed: 东坡村党支部 to 东坡村党总支"),
        (3, "HX0101T changes kind: youth_league to branch"),
        (3, "HX0101T moves: parent HX0101 to HX"),
    ]
