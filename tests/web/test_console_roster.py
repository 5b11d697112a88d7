"""The console's roster page (issue 14, Roster): upload organisations and people as CSV or
XLSX with the CLI's line-by-line errors, confined to the uploader's subtree, and the
download that reads back unchanged."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from bot.clock import FixedClock
from bot.messages import Address, AddressKind
from bot.web.console.access import COOKIE
from storage.models import Role
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.console_signin import ADMIN, console_site, csrf_of
from tests.web.populate import LEADER_HX01, SECRETARY_HX0101

PEOPLE_CSV = (
    "组织代码,姓名,手机,角色\n"
    "HX0101,刘新兵,13800009201,党员\n"
    "HX0101,,13800009202,党员\n"  # line 3: no name
    "HX0101,陈好,12345,党员\n"  # line 4: bad phone
    "HX0199,周到,13800009204,党员\n"  # line 5: no such organisation
    "HX0101,马上,13800009205,会长\n"  # line 6: unknown role
    "HX0101,何平,13800009206,member\n"
)


@pytest.fixture
async def console(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for site in console_site(db_url, tmp_path, clock):
        yield site


async def _upload(
    client: httpx.AsyncClient,
    code: str,
    what: str,
    name: str,
    data: bytes,
    **flags: str,
) -> httpx.Response:
    page = await client.get(f"/console/o/{code}/roster")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "what": what, **flags}
    return await client.post(
        f"/console/o/{code}/roster", data=form, files={"file": (name, data, "text/csv")}
    )


def _lines(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", item).replace("&#39;", "'").strip()
        for item in re.findall(r"<li>(.*?)</li>", html)
    ]


async def _role_of(site: Site, phone: str) -> list[tuple[str, Role]]:
    record = await site.app.repos.people.resolve(Address(AddressKind.SMS, phone))
    return sorted((g.org_code, g.role) for g in record.grants)


async def test_a_csv_with_bad_rows_imports_the_good_ones_and_lists_the_rest(
    console: Site,
) -> None:
    client = await console.signed_in(SECRETARY_HX0101)
    answer = await _upload(client, "HX0101", "people", "党员.csv", PEOPLE_CSV.encode())
    assert answer.status_code == 200
    lines = _lines(answer.text)
    assert "党员.csv:3: 姓名为空" in lines
    assert "党员.csv:4: 手机号码无效：'12345'" in lines
    assert "党员.csv:5: 组织代码 'HX0199' 不存在" in lines
    assert any(line.startswith("党员.csv:6: 角色 '会长' 不认识") for line in lines)
    assert "导入" in answer.text and "2" in answer.text
    assert await _role_of(console, "+8613800009201") == [("HX0101", Role.MEMBER)]
    assert await _role_of(console, "+8613800009206") == [("HX0101", Role.MEMBER)]
    assert await _role_of(console, "+8613800009202") == []
    entries = await console.app.repos.db.fetch(
        "SELECT action, detail FROM audit_log WHERE action LIKE 'roster.%'"
    )
    assert [(e["action"], e["detail"]) for e in entries] == [
        ("roster.import_people", "党员.csv: 2/6 imported, 4 rejected, 0 revoked")
    ]


async def test_an_xlsx_upload_works_the_same(console: Site) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in PEOPLE_CSV.splitlines():
        cells: list[object] = line.split(",")
        if cells[2] == "13800009201":
            cells[2] = 13800009201  # a phone typed as a number, as Excel keeps it
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    client = await console.signed_in(SECRETARY_HX0101)
    answer = await _upload(client, "HX0101", "people", "people.xlsx", out.getvalue())
    lines = _lines(answer.text)
    assert "people.xlsx:3: 姓名为空" in lines
    assert "people.xlsx:5: 组织代码 'HX0199' 不存在" in lines
    assert await _role_of(console, "+8613800009201") == [("HX0101", Role.MEMBER)]
    assert await _role_of(console, "+8613800009206") == [("HX0101", Role.MEMBER)]


async def test_a_secretarys_upload_is_refused_for_rows_outside_their_branch(
    console: Site,
) -> None:
    people = (
        "org_code,name,phone,role\n"
        "HX0102,外人,13800009301,member\n"  # another branch
        "HX0101,新书记,13800009302,secretary\n"
        "HX0101,新领导,13800009303,leader\n"  # a role above a secretary's
        "HX01,镇上人,13800009304,member\n"  # the township above
    )
    client = await console.signed_in(SECRETARY_HX0101)
    answer = await _upload(client, "HX0101", "people", "p.csv", people.encode())
    lines = _lines(answer.text)
    assert "p.csv:2: HX0102 不在您管理的组织范围内" in lines
    assert "p.csv:4: 您不能授予领导角色" in lines
    assert "p.csv:5: HX01 不在您管理的组织范围内" in lines
    assert await _role_of(console, "+8613800009301") == []
    assert await _role_of(console, "+8613800009302") == [("HX0101", Role.SECRETARY)]

    orgs = (
        "code,name,kind,parent_code\n"
        "HX0102,改名村,branch,HX01\n"  # another branch
        "HX0101,东坡村党支部,branch,HX02\n"  # moving one's own branch
        "HX0101Q,东坡村妇联,womens_federation,HX0101\n"  # a new organisation below: fine
        "HX0203,新村,branch,HX02\n"  # a new organisation elsewhere
    )
    answer = await _upload(client, "HX0101", "orgs", "o.csv", orgs.encode())
    lines = _lines(answer.text)
    assert lines[:3] == [
        "o.csv:2: HX0102 不在您管理的组织范围内",
        "o.csv:3: HX0101 不在您管理的组织范围内",
        "o.csv:5: HX0203 不在您管理的组织范围内",
    ]
    moved = await console.app.repos.orgs.by_code("HX0101")
    township = await console.app.repos.orgs.by_code("HX01")
    assert moved is not None and township is not None and moved.parent_id == township.id
    renamed = await console.app.repos.orgs.by_code("HX0102")
    assert renamed is not None and renamed.name == "西岭村党支部"
    assert await console.app.repos.orgs.by_code("HX0203") is None
    assert await console.app.repos.orgs.by_code("HX0101Q") is not None


async def test_a_rename_of_someone_who_holds_roles_elsewhere_is_refused(console: Site) -> None:
    client = await console.signed_in(SECRETARY_HX0101)
    people = "org_code,name,phone,role\nHX0101,假领导,13800000002,member\n"  # the HX01 leader
    answer = await _upload(client, "HX0101", "people", "p.csv", people.encode(), rename="on")
    assert "p.csv:2: 手机 +8613800000002 属于 李强，其在您管理范围外还有角色，不能改名" in (
        _lines(answer.text)
    )
    record = await console.app.repos.people.resolve(Address(AddressKind.SMS, LEADER_HX01))
    assert record.name == "李强"


async def test_a_leader_may_upload_for_branches_below_and_an_admin_grant_admins(
    console: Site,
) -> None:
    people = (
        "org_code,name,phone,role\n"
        "HX0102,甲,13800009401,member\n"
        "HX0101,乙,13800009402,leader\n"
        "HX0101,丙,13800009403,admin\n"
    )
    leader = await console.signed_in(LEADER_HX01)
    answer = await _upload(leader, "HX01", "people", "p.csv", people.encode())
    assert _lines(answer.text)[0] == "p.csv:4: 您不能授予管理员角色"
    assert await _role_of(console, "+8613800009401") == [("HX0102", Role.MEMBER)]
    assert await _role_of(console, "+8613800009403") == []
    admin = await console.signed_in(ADMIN)
    await _upload(admin, "HX", "people", "p.csv", people.encode())
    assert await _role_of(console, "+8613800009403") == [("HX0101", Role.ADMIN)]


async def test_the_download_reads_back_unchanged(console: Site) -> None:
    leader = await console.signed_in(LEADER_HX01)
    # A name that looks like a formula is neutralised in the file and read back as it was.
    # A number from abroad is written as E.164, neutralised, and read back the same.
    formula = (
        "org_code,name,phone,role\n"
        "HX0101,=HYPERLINK(1),13800009501,member\n"
        "HX0101T,Ann Lee,+1 650 253 0000,member\n"
    )
    await _upload(leader, "HX01", "people", "f.csv", formula.encode())
    before_people = await console.app.repos.db.fetch(
        "SELECT person_id, org_id, role FROM roles ORDER BY person_id, org_id, role"
    )
    before_names = await console.app.repos.db.fetch("SELECT id, name FROM people ORDER BY id")
    before_orgs = await console.app.repos.db.fetch(
        "SELECT code, name, kind, parent_id, theme FROM organisations ORDER BY code"
    )
    for fmt in ("csv", "xlsx"):
        orgs = await leader.get(f"/console/o/HX01/roster/orgs.{fmt}")
        people = await leader.get(f"/console/o/HX01/roster/people.{fmt}")
        assert orgs.status_code == people.status_code == 200
        assert f'filename="HX01-people.{fmt}"' in people.headers["content-disposition"]
        if fmt == "csv":
            text = people.content.decode("utf-8-sig")
            assert text.splitlines()[0] == "组织代码,姓名,手机,角色"
            assert "HX0101,'=HYPERLINK(1),13800009501,member" in text
            assert "HX0101T,Ann Lee,'+16502530000,member" in text
            assert "HX0201" not in text and "HX02," not in orgs.text  # outside the subtree
        else:
            sheet = load_workbook(io.BytesIO(people.content), read_only=True).worksheets[0]
            rows = list(sheet.iter_rows(values_only=True))
            assert rows[0] == ("组织代码", "姓名", "手机", "角色")
            assert ("HX0101", "'=HYPERLINK(1)", "13800009501", "member") in rows
        answer = await _upload(leader, "HX01", "orgs", f"orgs.{fmt}", orgs.content)
        assert "被拒绝的行" not in answer.text and "提示" not in answer.text
        answer = await _upload(leader, "HX01", "people", f"people.{fmt}", people.content)
        assert "被拒绝的行" not in answer.text and "提示" not in answer.text, _lines(answer.text)
    after_people = await console.app.repos.db.fetch(
        "SELECT person_id, org_id, role FROM roles ORDER BY person_id, org_id, role"
    )
    assert after_people == before_people
    assert await console.app.repos.db.fetch("SELECT id, name FROM people ORDER BY id") == (
        before_names
    )
    assert (
        await console.app.repos.db.fetch(
            "SELECT code, name, kind, parent_id, theme FROM organisations ORDER BY code"
        )
        == before_orgs
    )
    exports = await console.app.repos.db.fetch(
        "SELECT detail FROM audit_log WHERE action = 'roster.export' ORDER BY id"
    )
    assert exports[0]["detail"].startswith("HX01-orgs.csv: 4 rows")


async def test_uploads_are_size_limited_and_csrf_checked(console: Site) -> None:
    client = await console.signed_in(SECRETARY_HX0101)
    big = b"org_code,name,phone,role\n" + b"x" * (3 * 1024 * 1024)
    answer = await _upload(client, "HX0101", "people", "big.csv", big)
    assert answer.status_code == 413 and "文件太大：最多 2 MB" in answer.text
    damaged = await _upload(client, "HX0101", "people", "名册.xlsx", b"PK\x03\x04 broken")
    assert damaged.status_code == 400 and "名册.xlsx: 不是可读的 XLSX 工作簿" in damaged.text
    forged = await client.post(
        "/console/o/HX0101/roster",
        data={"what": "people"},
        files={"file": ("p.csv", PEOPLE_CSV.encode(), "text/csv")},
    )
    assert forged.status_code == 403
    assert await _role_of(console, "+8613800009201") == []


async def test_another_branch_and_unknown_codes_answer_the_same_404(console: Site) -> None:
    client = await console.signed_in(SECRETARY_HX0101)
    for path in (
        "/console/o/HX0102/roster",
        "/console/o/NOPE/roster",
        "/console/o/HX0102/roster/people.csv",
        "/console/o/HX0101/roster/secrets.csv",
    ):
        answer = await client.get(path)
        assert answer.status_code == 404, path
    other = await client.get("/console/o/HX0102/roster")
    unknown = await client.get("/console/o/NOPE/roster")
    assert other.text.replace("HX0102", "NOPE") == unknown.text
    page = await client.get("/console/o/HX0101/roster")
    posted = await client.post(
        "/console/o/HX0102/roster",
        data={"csrf": csrf_of(page.text), "what": "people"},
        files={"file": ("p.csv", PEOPLE_CSV.encode(), "text/csv")},
    )
    assert posted.status_code == 404
    assert await _role_of(console, "+8613800009201") == []


async def test_upload_a_roster_with_bad_rows_on_a_phone(console: Site, browser, shoot) -> None:  # type: ignore[no-untyped-def]
    client = await console.signed_in(SECRETARY_HX0101)
    page = await browser.new_page(**ZH_PHONE)
    await page.context.add_cookies(
        [{"name": COOKIE, "value": client.cookies[COOKIE], "url": console.url + "/console"}]
    )
    await page.goto(console.url + "/console/o/HX0101/roster")
    assert await page.inner_text("h1") == "名册"
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-roster")
    await page.set_input_files(
        "#people-file",
        files=[{"name": "党员名册.csv", "mimeType": "text/csv", "buffer": PEOPLE_CSV.encode()}],
    )
    await page.get_by_role("button", name="上传人员名册").click()
    await page.wait_for_selector("text=上传结果")
    errors = await page.locator("ul.lines.error li").all_inner_texts()
    assert errors[0] == "党员名册.csv:3: 姓名为空"
    assert len(errors) == 4
    assert await horizontal_overflow(page) == 0
    await shoot(page, "console-roster-errors")
