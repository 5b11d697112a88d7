"""Roster import in batches (storage/roster_import.py): rows of one person on both sides of
a batch's edge are one person, a stranger's opted-out address is claimed without opting it
back in, and on PostgreSQL a batch that loses a race for an address runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import roster
from bot.messages import Address, AddressKind
from bot.roster import import_orgs, import_people
from storage import roster_import
from storage.models import Role
from storage.people import RosterEntry
from storage.repositories import Repositories, open_repositories
from tests.test_roster import NOW, ORGS_ZH, counts, write

PEOPLE = """组织代码,姓名,手机,角色
HX0101,张建国,13800001100,书记
HX0101,李秀英,13800001101,党员
HX0101,王志强,13800001102,党员
HX0101T,张建国,13800001100,党员
HX0101,张 建国,+86 138 0000 1100,党员
HX0101T,李小龙,13800001201,党员
HX0101T,王志强,13800001102,群众
"""


async def grants(repos: Repositories, phone: str) -> list[tuple[str, str]]:
    record = await repos.people.resolve(Address(AddressKind.SMS, phone))
    return [(g.org_code, g.role.value) for g in record.grants]


async def test_one_person_across_batches(
    repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    monkeypatch.setattr(roster, "CHUNK", 3)
    people_csv = write(tmp_path, "people.csv", PEOPLE)
    report = await import_people(repos, people_csv, NOW)
    assert (report.rows, report.imported, report.errors, report.notes) == (7, 7, [], [])
    assert await counts(repos) == {"organisations": 4, "people": 4, "addresses": 4, "roles": 7}
    # In the order of the file, whichever batch a row fell in.
    assert await grants(repos, "+8613800001100") == [
        ("HX0101", "secretary"),
        ("HX0101T", "member"),
        ("HX0101", "member"),
    ]
    assert await grants(repos, "+8613800001102") == [("HX0101", "member"), ("HX0101T", "public")]
    record = await repos.people.resolve(Address(AddressKind.SMS, "+8613800001100"))
    assert record.name == "张建国"  # the first row names the person; 张 建国 is the same name
    monkeypatch.setattr(roster, "CHUNK", 2)
    again = await import_people(repos, people_csv, NOW)
    assert (again.imported, again.errors, again.notes) == (7, [], [])
    assert (await counts(repos))["roles"] == 7


async def test_an_opted_out_stranger_joins_the_roster_still_opted_out(
    sqlite_url: str, tmp_path: Path
) -> None:
    repos = await open_repositories(sqlite_url)
    try:
        await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
        stranger = Address(AddressKind.SMS, "+8613800001101")
        assert await repos.people.opt_out(stranger, NOW)  # an address without a person
        report = await import_people(repos, write(tmp_path, "people.csv", PEOPLE), NOW)
        assert (report.imported, report.errors) == (7, [])
        record = await repos.people.resolve(stranger)
        assert (record.name, record.opted_out_at) == ("李秀英", NOW)  # TD still holds
        assert await grants(repos, stranger.value) == [("HX0101", "member")]
        assert (await counts(repos))["addresses"] == 4
    finally:
        await repos.db.close()


async def test_a_batch_that_lost_a_race_runs_again(
    repos: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if repos.db.dialect != "postgresql":
        pytest.skip("SQLite's write lock, held by the batch, leaves no room for a race")
    await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
    branch = await repos.orgs.by_code("HX0101")
    taken = Address(AddressKind.SMS, "+8613800001101")  # the file's 李秀英: refused each time
    await repos.people.import_roster([RosterEntry(branch.id, "李大姐", taken, Role.MEMBER)], NOW)
    villager = Address(AddressKind.SMS, "+8613800001102")
    real_lookup = roster_import._lookup
    lookups = 0

    async def lookup_then_villager_joins(tx, addresses):  # type: ignore[no-untyped-def]
        nonlocal lookups
        lookups += 1
        found = await real_lookup(tx, addresses)
        if lookups == 1:  # texts in on another connection, after the batch looked
            await repos.people.join(villager, branch.id, Role.PUBLIC, None, NOW)
        return found

    monkeypatch.setattr(roster_import, "_lookup", lookup_then_villager_joins)
    report = await import_people(repos, write(tmp_path, "people.csv", PEOPLE), NOW)
    assert lookups == 2
    assert [(e.line, e.key) for e in report.errors] == [(3, "phone_taken")]  # said once
    assert report.imported == 6
    assert await counts(repos) == {"organisations": 4, "people": 4, "addresses": 4, "roles": 8}
    record = await repos.people.resolve(villager)
    assert record.name == "王志强"  # the villager who joined by SMS got the roster's name
    assert [(g.org_code, g.role.value) for g in record.grants] == [
        ("HX0101", "public"),
        ("HX0101", "member"),
        ("HX0101T", "public"),
    ]


async def test_whole_file_checks_over_interleaved_phones(sqlite_url: str, tmp_path: Path) -> None:
    """Two phones each given two names, their rows interleaved with good ones and with a
    repeat: every row of those phones is refused with all its names, the repeat of a good
    row points at its first line, and the good rows go in."""
    repos = await open_repositories(sqlite_url)
    try:
        await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
        people = (
            "组织代码,姓名,手机,角色\n"
            "HX0101,周一,13800009001,党员\n"  # 2
            "HX0101,李秀英,13800001101,党员\n"  # 3
            "HX0101,吴二,13800009002,党员\n"  # 4
            "HX0101,郑三,13800009001,群众\n"  # 5: 9001's second name
            "HX0101,李秀英,13800001101,党员\n"  # 6: repeats 3
            "HX0101T,周一,13800009001,党员\n"  # 7
            "HX0101,王四,13800009002,党员\n"  # 8: 9002's second name, and a repeat of 4
        )
        report = await import_people(repos, write(tmp_path, "people.csv", people), NOW)
        errors = {e.line: (e.key, e.reason) for e in report.errors}
        assert sorted(errors) == [2, 4, 5, 6, 7, 8]
        for line in (2, 5, 7):
            assert errors[line][0] == "two_names"
            assert "周一 (line 2), 郑三 (line 5)" in errors[line][1]
        for line in (4, 8):
            assert errors[line][0] == "two_names"
            assert "吴二 (line 4), 王四 (line 8)" in errors[line][1]
        assert errors[6] == ("repeats", errors[6][1]) and "3" in errors[6][1]
        assert report.imported == 1
        assert await counts(repos) == {"organisations": 4, "people": 1, "addresses": 1, "roles": 1}
    finally:
        await repos.db.close()


async def test_a_vetoed_row_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    repos = await open_repositories(sqlite_url)
    try:
        await import_orgs(repos, write(tmp_path, "orgs.csv", ORGS_ZH), NOW)
        branch = await repos.orgs.by_code("HX0101")
        entries = [
            RosterEntry(branch.id, "周一", Address(AddressKind.SMS, "+8613800009001"), Role.MEMBER),
            RosterEntry(branch.id, "吴二", Address(AddressKind.SMS, "+8613800009002"), Role.MEMBER),
        ]
        seen: list[tuple[int, object]] = []

        def vet(i: int, entry: RosterEntry, holder: object) -> bool:
            seen.append((i, holder))
            return i == 1

        done = await roster_import.import_batch(repos.db, entries, NOW, False, vet)
        assert seen == [(0, None), (1, None)]
        assert done[0] is None and done[1] is not None and done[1].person_id is not None
        assert await counts(repos) == {"organisations": 4, "people": 1, "addresses": 1, "roles": 1}
    finally:
        await repos.db.close()
