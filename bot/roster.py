"""Roster import from CSV: organisations and people, idempotent, every bad row reported.

Files come from spreadsheets: headers in English or Chinese, UTF-8 (with or without BOM)
or GB18030, as Excel saves CSV on Chinese Windows. A bad row is reported with its line
number and reason; the good rows are imported all the same.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.messages import Address, AddressKind
from bot.phones import to_e164
from storage.models import OrgKind, Role
from storage.people import RosterEntry
from storage.repositories import Repositories

CHUNK = 500  # rows per transaction: large files commit as they go
Progress = Callable[[int], None]

ORG_COLUMNS = {
    "code": ("code", "组织代码", "代码"),
    "name": ("name", "名称", "组织名称"),
    "kind": ("kind", "类型"),
    "parent_code": ("parent_code", "上级代码"),
    "theme": ("theme", "争创主题", "主题"),
}
ORG_REQUIRED = ("code", "name", "kind")
PEOPLE_COLUMNS = {
    "org_code": ("org_code", "组织代码"),
    "name": ("name", "姓名"),
    "phone": ("phone", "手机", "手机号"),
    "role": ("role", "角色"),
}
PEOPLE_REQUIRED = ("org_code", "name", "phone", "role")

KIND_WORDS = {
    OrgKind.COUNTY: ("county", "县", "县委"),
    OrgKind.TOWNSHIP: ("township", "乡", "镇", "乡镇", "街道", "乡镇党委", "镇党委"),
    OrgKind.BRANCH: ("branch", "支部", "党支部", "村党支部", "社区党支部", "党总支"),
    OrgKind.YOUTH_LEAGUE: ("youth_league", "团支部", "共青团"),
    OrgKind.UNION: ("union", "工会"),
    OrgKind.WOMENS_FEDERATION: ("womens_federation", "妇联", "妇代会"),
}
ROLE_WORDS = {
    Role.MEMBER: ("member", "党员"),
    Role.SECRETARY: ("secretary", "书记", "支部书记"),
    Role.LEADER: ("leader", "领导"),
    Role.PUBLIC: ("public", "群众", "村民"),
    Role.ADMIN: ("admin", "管理员"),
}
_KINDS = {w: k for k, words in KIND_WORDS.items() for w in words}
_ROLES = {w: r for r, words in ROLE_WORDS.items() for w in words}
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


class RosterFileError(Exception):
    """The file as a whole cannot be read: missing, undecodable, or without a column."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    imported: int = 0
    revoked: int = 0
    errors: list[RowError] = field(default_factory=list)


def _decode(raw: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(f"{path}: neither UTF-8 nor GB18030 text")


def read_rows(
    path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row keyed by canonical column) for every non-empty data row."""
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise RosterFileError(f"{path}: cannot read: {exc.strerror}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise RosterFileError(f"{path}: empty file")
    names = {
        alias.casefold(): canonical for canonical, aliases in columns.items() for alias in aliases
    }
    index = {
        names[h.strip().casefold()]: i
        for i, h in enumerate(header)
        if h.strip().casefold() in names
    }
    missing = [c for c in required if c not in index]
    if missing:
        raise RosterFileError(
            f"{path}: missing column {', '.join(missing)} (header: {', '.join(header)})"
        )
    start = reader.line_num + 1  # a quoted cell may span lines: report where the row begins
    for row in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        yield line, {c: (row[i].strip() if i < len(row) else "") for c, i in index.items()}


def count_rows(path: Path) -> int:
    try:
        lines = _decode(path.read_bytes(), path).splitlines()[1:]
        return sum(1 for line in lines if line.strip())
    except (OSError, RosterFileError):
        return 0


async def import_orgs(
    repos: Repositories, path: Path, now: datetime, progress: Progress | None = None
) -> ImportReport:
    report = ImportReport()
    rows: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in read_rows(path, ORG_COLUMNS, ORG_REQUIRED):
        report.rows += 1
        code = row["code"].upper()
        kind = _KINDS.get(row["kind"].casefold())
        errors_before = len(report.errors)
        if not _CODE.match(code):
            report.errors.append(
                RowError(
                    line, f"bad code {row['code']!r}: use letters, digits, - or _ (at most 32)"
                )
            )
        elif code in rows:
            report.errors.append(RowError(line, f"code {code} repeats line {rows[code][0]}"))
        elif not row["name"]:
            report.errors.append(RowError(line, "name is empty"))
        elif kind is None:
            report.errors.append(
                RowError(
                    line,
                    f"unknown kind {row['kind']!r}; one of {', '.join(k.value for k in OrgKind)}",
                )
            )
        else:
            rows[code] = (
                line,
                {
                    "code": code,
                    "name": row["name"],
                    "kind": kind.value,
                    "parent_code": row.get("parent_code", "").upper(),
                    "theme": row.get("theme", ""),
                },
            )
        if progress and len(report.errors) > errors_before:
            progress(1)

    # A new parent must not make an organisation its own ancestor, through rows of this
    # file or rows already stored: follow each chain with the file's rows taking precedence.
    stored = await repos.orgs.all()
    code_of = {o.id: o.code for o in stored}
    parent_of = {o.code: code_of.get(o.parent_id or 0, "") for o in stored}
    parent_of.update({code: r["parent_code"] for code, (_, r) in rows.items()})
    for code, (line, row) in list(rows.items()):
        seen, at = {code}, row["parent_code"]
        while at and at not in seen:
            seen.add(at)
            at = parent_of.get(at, "")
        if at:
            del rows[code]
            parent = row["parent_code"]
            reason = (
                f"parent {parent} is the row itself"
                if parent == code
                else f"parent {parent} would make {code} its own ancestor"
            )
            report.errors.append(RowError(line, reason))
            if progress:
                progress(1)

    # Parents first: a row is ready once its parent exists in the database or was placed.
    known = {o.code for o in stored}
    ordered: list[dict[str, str]] = []
    pending = dict(rows)
    while pending:
        ready = [
            c
            for c, (_, r) in pending.items()
            if not r["parent_code"]
            or (r["parent_code"] in known and r["parent_code"] not in pending)
        ]
        if not ready:
            break
        for code in ready:
            ordered.append(pending.pop(code)[1])
            known.add(code)
    for _code, (line, row) in sorted(pending.items(), key=lambda item: item[1][0]):
        parent = row["parent_code"]
        in_file = parent in parent_of and parent not in known
        reason = f"parent {parent} was rejected" if in_file else f"unknown parent code {parent}"
        report.errors.append(RowError(line, reason))
        if progress:
            progress(1)

    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        report.imported += await repos.orgs.upsert_many(chunk, now)
        if progress:
            progress(len(chunk))
    report.errors.sort(key=lambda e: e.line)
    return report


async def import_people(
    repos: Repositories,
    path: Path,
    now: datetime,
    region: str = "CN",
    progress: Progress | None = None,
    replace: bool = False,
) -> ImportReport:
    """Import people; with `replace`, the file is the whole roster for every (organisation,
    role) it lists: whoever held such a role and is no longer listed loses it (a secretary
    who was replaced can no longer send notices). Roles the file does not mention, such as
    villagers who joined by SMS, are left alone."""
    report = ImportReport()
    orgs = {o.code: o.id for o in await repos.orgs.all()}
    batch: list[RosterEntry] = []
    listed: dict[tuple[int, Role], set[int]] = {}

    async def flush() -> None:
        people = await repos.people.import_roster(batch, now)
        for entry, person_id in zip(batch, people, strict=True):
            listed.setdefault((entry.org_id, entry.role), set()).add(person_id)
        report.imported += len(people)
        if progress:
            progress(len(batch))
        batch.clear()

    for line, row in read_rows(path, PEOPLE_COLUMNS, PEOPLE_REQUIRED):
        report.rows += 1
        org_id = orgs.get(row["org_code"].upper())
        phone = to_e164(row["phone"], region)
        role = _ROLES.get(row["role"].casefold())
        reason = (
            f"unknown organisation code {row['org_code']!r}"
            if org_id is None
            else "name is empty"
            if not row["name"]
            else f"not a valid phone number: {row['phone']!r}"
            if phone is None
            else f"unknown role {row['role']!r}; one of {', '.join(r.value for r in Role)}"
            if role is None
            else None
        )
        if reason is not None:
            report.errors.append(RowError(line, reason))
            if progress:
                progress(1)
            continue
        assert org_id is not None and phone is not None and role is not None  # reason is None
        batch.append(RosterEntry(org_id, row["name"], Address(AddressKind.SMS, phone), role))
        if len(batch) >= CHUNK:
            await flush()
    if batch:
        await flush()
    if replace and not report.errors:  # a file with bad rows is no complete roster
        for (org_id, role), keep in listed.items():
            holders = {person for person, _ in await repos.people.members_of(org_id, role)}
            report.revoked += await repos.people.revoke(org_id, role, holders - keep)
    return report
