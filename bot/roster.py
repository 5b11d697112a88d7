"""Roster import from CSV or XLSX: organisations and people, idempotent, every bad row
reported. One implementation for the CLI (a path) and the console (an uploaded file).

Files come from spreadsheets: headers in English or Chinese, UTF-8 (with or without BOM)
or GB18030, as Excel saves CSV on Chinese Windows, or the workbook itself (its first
sheet, read-only). A bad row is reported with its line number and reason; the good rows
are imported all the same. A `Scope` confines an import to an organiser's subtree.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bot.exports import FORMULA_STARTS
from bot.messages import Address, AddressKind
from bot.phones import to_e164
from bot.texts import Texts, texts_for
from storage.models import Org, OrgKind, Role
from storage.people import Holder, RosterEntry, name_key, same_name
from storage.repositories import Repositories
from storage.roster_import import import_batch, revoke_unlisted, upsert_orgs
from storage.roster_scratch import RosterScratch

CHUNK = 2_000  # rows per transaction: large files commit as they go, the write lock held briefly
Line = tuple[int, RosterEntry]  # a people row that passed the checks, with its line number
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
_ROLE = {r.value: r for r in Role}
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Upload:
    """A roster file received rather than read from disk (the console's upload)."""

    name: str
    data: bytes


Source = Path | Upload


@dataclass(frozen=True, slots=True)
class Scope:
    """What an import may touch: the organisations of one subtree (`root` and below) and
    the roles its uploader may grant. Rows outside it are refused line by line."""

    root: int
    orgs: frozenset[int]
    roles: frozenset[Role]


class RosterFileError(Exception):
    """The file as a whole cannot be read: missing, undecodable, or without a column. `key`
    (under `cli.import.file.`) and `params` say it in the operator's language; str() in
    English."""

    def __init__(self, path: Path, key: str, **params: object) -> None:
        self.path, self.key, self.params = path, key, params
        super().__init__(self.text(texts_for("en")))

    def text(self, texts: Texts) -> str:
        return f"{self.path}: " + texts.get(f"cli.import.file.{self.key}", **self.params)


@dataclass(frozen=True, slots=True)
class RowError:
    """A line's problem (or, in `ImportReport.notes`, something worth saying about it): a
    catalog key under `cli.import.` and its parameters, rendered in the operator's language."""

    line: int
    key: str
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self, texts: Texts) -> str:
        params = {name: _render(texts, value) for name, value in self.params.items()}
        return texts.get(f"cli.import.{self.key}", **params)

    @property
    def reason(self) -> str:
        return self.text(texts_for("en"))


def _render(texts: Texts, value: object) -> object:
    """A role in the operator's words; (name, line) pairs as a list."""
    if isinstance(value, Role):
        return texts.get(f"cli.role.{value.value}")
    if isinstance(value, list):
        return texts.get("cli.import.separator").join(
            texts.get("cli.import.name_at", name=name, line=line) for name, line in value
        )
    return value


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    imported: int = 0
    revoked: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[RowError] = field(default_factory=list)  # renames, roles held elsewhere


ENCODINGS = ("utf-8-sig", "gb18030")  # tried in turn, each over the whole file
BLOCK = 1 << 20  # bytes read at a time: a province's file is never in memory whole


def _encoding(stream: BinaryIO, path: Path) -> str:
    """The first encoding that decodes the whole file, read a block at a time."""
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        stream.seek(0)
        try:
            while block := stream.read(BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        stream.seek(0)
        return encoding
    raise RosterFileError(path, "encoding")


def _open(source: Source) -> tuple[Path, BinaryIO]:
    if isinstance(source, Upload):
        return Path(source.name), io.BytesIO(source.data)
    try:
        return source, source.open("rb")
    except OSError as exc:
        raise RosterFileError(source, "unreadable", reason=exc.strerror or exc) from None


def is_xlsx(path: Path, data: bytes) -> bool:
    """A workbook (a zip) rather than CSV: by its name, or by its first bytes."""
    return path.suffix.casefold() == ".xlsx" or data.startswith(b"PK\x03\x04")


def _cell(value: object) -> str:
    """A workbook cell as the CSV would hold it: a phone typed as a number has no `.0`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_lines(path: Path, stream: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only a workbook pays for importing it

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except Exception:  # openpyxl raises zip, XML and key errors for a damaged file
        raise RosterFileError(path, "not_xlsx") from None
    try:
        rows = enumerate(book.worksheets[0].iter_rows(values_only=True), start=1)
        while True:
            try:
                number, row = next(rows)
            except StopIteration:
                return
            except Exception:  # a sheet damaged past its first bytes
                raise RosterFileError(path, "not_xlsx") from None
            yield number, [_cell(v) for v in row]
    finally:
        book.close()


def _csv_lines(path: Path, stream: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    text = io.TextIOWrapper(stream, _encoding(stream, path), newline="")
    reader = csv.reader(text)
    start = 1  # a quoted cell may span lines: report where the row begins
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def read_rows(
    source: Source, columns: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row keyed by canonical column) for every non-empty data row, from a
    CSV file or the first sheet of a workbook (its line is the sheet's row number)."""
    path, stream = _open(source)
    with stream:
        head = stream.read(4)
        stream.seek(0)
        lines = _xlsx_lines(path, stream) if is_xlsx(path, head) else _csv_lines(path, stream)
        yield from _keyed(path, lines, columns, required)


def _keyed(
    path: Path,
    lines: Iterator[tuple[int, list[str]]],
    columns: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
) -> Iterator[tuple[int, dict[str, str]]]:
    first = next(lines, None)
    if first is None:
        raise RosterFileError(path, "empty")
    header = first[1]
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
            path, "missing_column", columns=", ".join(missing), header=", ".join(header)
        )
    for line, row in lines:
        if not any(cell.strip() for cell in row):
            continue
        yield line, {c: (_unquote(row[i]) if i < len(row) else "") for c, i in index.items()}


def _unquote(cell: str) -> str:
    """A cell as written before bot/exports.py neutralised it (`'+8613...` is the phone
    `+8613...`): the roster's own download reads back unchanged."""
    cell = cell.strip()
    if cell.startswith("'") and cell[1:2].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def count_rows(path: Path) -> int:
    """Non-blank lines after the header, for a progress bar (a block at a time; a quoted
    cell spanning lines counts twice, which a progress bar survives)."""
    try:
        with path.open("rb") as stream:
            if is_xlsx(path, stream.read(4)):
                return 0  # no progress bar: counting would read the workbook twice
            stream.seek(0)
            _encoding(stream, path)
            return max(0, sum(1 for line in stream if line.strip()) - 1)
    except (OSError, RosterFileError):
        return 0


async def import_orgs(
    repos: Repositories,
    path: Source,
    now: datetime,
    progress: Progress | None = None,
    scope: Scope | None = None,
) -> ImportReport:
    report = ImportReport()
    rows: dict[str, tuple[int, dict[str, str]]] = {}
    stored = await repos.orgs.all()
    outside = _scope_check(stored, scope)
    for line, row in read_rows(path, ORG_COLUMNS, ORG_REQUIRED):
        report.rows += 1
        code = row["code"].upper()
        kind = _KINDS.get(row["kind"].casefold())
        errors_before = len(report.errors)
        if not _CODE.match(code):
            report.errors.append(RowError(line, "bad_code", {"code": repr(row["code"])}))
        elif code in rows:
            report.errors.append(
                RowError(line, "code_repeats", {"code": code, "first": rows[code][0]})
            )
        elif not row["name"]:
            report.errors.append(RowError(line, "name_empty"))
        elif kind is None:
            kinds = ", ".join(k.value for k in OrgKind)
            report.errors.append(
                RowError(line, "unknown_kind", {"kind": repr(row["kind"]), "kinds": kinds})
            )
        elif outside(code, row.get("parent_code", "").upper()):
            report.errors.append(RowError(line, "out_of_scope", {"code": code}))
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
            report.errors.append(
                RowError(line, "parent_self", {"parent": parent})
                if parent == code
                else RowError(line, "parent_cycle", {"parent": parent, "code": code})
            )
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
        key = "parent_rejected" if in_file else "unknown_parent"
        report.errors.append(RowError(line, key, {"parent": parent}))
        if progress:
            progress(1)

    report.notes += _org_changes(stored, ordered, {code: line for code, (line, _) in rows.items()})
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        report.imported += await upsert_orgs(repos.db, chunk, now)
        if progress:
            progress(len(chunk))
    report.errors.sort(key=lambda e: e.line)
    return report


def _scope_check(stored: list[Org], scope: Scope | None) -> Callable[[str, str], bool]:
    """Whether a row (code, parent code) reaches outside `scope`: an organisation outside
    the subtree, a parent outside it, or no parent at all (a new top of the tree). The
    subtree's root may be listed only under the parent it has: its organiser cannot move
    it. A parent that is new in the file is checked on its own row."""
    if scope is None:
        return lambda code, parent: False
    by_code = {o.code: o for o in stored}
    code_of = {o.id: o.code for o in stored}

    def outside(code: str, parent_code: str) -> bool:
        org = by_code.get(code)
        if org is not None and org.id not in scope.orgs:
            return True
        if org is not None and org.id == scope.root:
            return parent_code != code_of.get(org.parent_id or 0, "")
        parent = by_code.get(parent_code)
        if parent is None:
            return not parent_code
        return parent.id not in scope.orgs

    return outside


def _org_changes(
    stored: list[Org], rows: list[dict[str, str]], line_of: dict[str, int]
) -> list[RowError]:
    """What a row changes about an organisation that exists: said, not done silently (a
    code typed into the wrong row would otherwise rename or move a branch unnoticed)."""
    known = {o.code: o for o in stored}
    code_of = {o.id: o.code for o in stored}
    notes = []
    for row in rows:
        org = known.get(row["code"])
        if org is None:
            continue
        line, code = line_of[row["code"]], row["code"]
        if org.name != row["name"]:
            notes.append(
                RowError(line, "org_renamed", {"code": code, "old": org.name, "new": row["name"]})
            )
        if org.kind != row["kind"]:
            notes.append(
                RowError(line, "org_kind", {"code": code, "old": org.kind, "new": row["kind"]})
            )
        parent = code_of.get(org.parent_id or 0, "")
        if parent != row["parent_code"]:
            old, new = parent or "-", row["parent_code"] or "-"
            notes.append(RowError(line, "org_moved", {"code": code, "old": old, "new": new}))
    return notes


async def import_people(
    repos: Repositories,
    path: Source,
    now: datetime,
    region: str = "CN",
    progress: Progress | None = None,
    replace: bool = False,
    rename: bool = False,
    scope: Scope | None = None,
) -> ImportReport:
    """Import people; with `replace`, the file is the whole roster for every (organisation,
    role) it lists: whoever held such a role and is no longer listed loses it (a secretary
    who was replaced can no longer send notices). Roles the file does not mention, such as
    villagers who joined by SMS, are left alone.

    A row never silently turns one person into another: a phone held by someone of another
    name is refused unless `rename` says the new name is meant, and a phone the file gives
    two names is refused in all its rows (which one is right cannot be told). A row that
    repeats an earlier one is reported; a member or secretary listed in a second
    organisation of the same kind keeps the first role (an import only adds), and that is
    said, so a move can be finished with `replace`. With a `scope`, a row for an
    organisation outside it, a role its uploader may not grant, or a rename of someone who
    holds roles outside it is refused."""
    report = ImportReport()
    orgs = {o.code: o for o in await repos.orgs.all()}

    def reject(error: RowError) -> None:
        report.errors.append(error)
        if progress:
            progress(1)

    with RosterScratch() as scratch:  # the whole file's rows, on disk
        _check_rows(scratch, path, orgs, region, scope, report, reject)
        scratch.settle()
        for line, phone, names in scratch.two_names():
            reject(RowError(line, "two_names", {"phone": phone, "names": names}))
        for line, first in scratch.repeats():
            reject(RowError(line, "repeats", {"first": first}))
        kind_of = {o.id: o.kind for o in orgs.values()}
        code_of = {o.id: o.code for o in orgs.values()}
        for rows in scratch.kept(CHUNK):
            chunk = [
                (line, RosterEntry(org_id, name, Address(AddressKind.SMS, phone), _ROLE[role]))
                for line, org_id, name, phone, role, _ in rows
            ]
            in_file = {phone: orgs_listed for _, _, _, phone, _, orgs_listed in rows}
            # What the checks below said of each row, by position: a refusal, or a note.
            # Kept from the batch's last attempt only (a batch that lost a race runs again).
            said: dict[int, RowError] = {}

            def vet(
                i: int,
                entry: RosterEntry,
                holder: Holder | None,
                chunk: list[Line] = chunk,
                said: dict[int, RowError] = said,
                in_file: dict[str, str] = in_file,
            ) -> bool:
                """The checks that need who holds the phone already (read in the batch)."""
                line = chunk[i][0]
                said.pop(i, None)
                renaming = holder and holder.name and not same_name(holder.name, entry.name)
                if renaming and not rename:
                    assert holder is not None
                    said[i] = _taken(line, entry, holder)
                    return False
                if renaming and scope is not None:
                    assert holder is not None
                    codes = {code for code, _, _ in holder.grants}
                    if any(orgs[c].id not in scope.orgs for c in codes if c in orgs):
                        taken = {"phone": entry.address.value, "name": holder.name}
                        said[i] = RowError(line, "rename_out_of_scope", taken)
                        return False
                if holder:
                    listed_at = {int(o) for o in in_file[entry.address.value].split(",")}
                    also = _held_elsewhere(entry, holder, kind_of, listed_at, code_of)
                    if also:
                        also_params = {"name": entry.name, "role": entry.role, "orgs": also}
                        said[i] = RowError(line, "also", also_params)
                return True

            done = await import_batch(repos.db, [e for _, e in chunk], now, rename, vet)
            ready = 0
            listed: list[tuple[int, str, int]] = []
            for i, ((line, entry), outcome) in enumerate(zip(chunk, done, strict=True)):
                if outcome is None:  # refused by vet
                    reject(said[i])
                    continue
                ready += 1
                if i in said:
                    report.notes.append(said[i])
                if outcome.person_id is None:  # named otherwise, and not caught by vet
                    taken = {"phone": entry.address.value, "name": outcome.holder}
                    report.errors.append(RowError(line, "phone_taken_no_org", taken))
                    continue
                report.imported += 1
                listed.append((entry.org_id, entry.role.value, outcome.person_id))
                if outcome.renamed:
                    renamed = {
                        "old": outcome.holder,
                        "new": entry.name,
                        "phone": entry.address.value,
                    }
                    report.notes.append(RowError(line, "renamed", renamed))
            if replace:
                scratch.list_people(listed)
            if progress and ready:
                progress(ready)
        if replace and not report.errors:  # a file with bad rows is no complete roster
            report.revoked += await revoke_unlisted(repos.db, scratch.listed_orgs(), scratch.listed)
    report.errors.sort(key=lambda e: e.line)
    report.notes.sort(key=lambda e: e.line)
    return report


def _check_rows(
    scratch: RosterScratch,
    path: Source,
    orgs: dict[str, Org],
    region: str,
    scope: Scope | None,
    report: ImportReport,
    reject: Callable[[RowError], None],
) -> None:
    """Read the file, refuse what a row shows wrong by itself, and put the rest on
    `scratch` a batch at a time."""
    rows: list[tuple[int, int, str, str, str, str]] = []
    for line, row in read_rows(path, PEOPLE_COLUMNS, PEOPLE_REQUIRED):
        report.rows += 1
        org = orgs.get(row["org_code"].upper())
        phone = to_e164(row["phone"], region)
        role = _ROLES.get(row["role"].casefold())
        if org is None:
            reject(RowError(line, "unknown_org", {"code": repr(row["org_code"])}))
        elif scope is not None and org.id not in scope.orgs:
            reject(RowError(line, "out_of_scope", {"code": org.code}))
        elif not row["name"]:
            reject(RowError(line, "person_name_empty"))
        elif phone is None:
            reject(RowError(line, "bad_phone", {"phone": repr(row["phone"])}))
        elif role is None:
            roles = ", ".join(r.value for r in Role)
            reject(RowError(line, "unknown_role", {"role": repr(row["role"]), "roles": roles}))
        elif scope is not None and role not in scope.roles:
            reject(RowError(line, "role_not_allowed", {"role": role}))
        else:
            name = row["name"]
            rows.append((line, org.id, name, name_key(name), phone, role.value))
            if len(rows) >= CHUNK:
                scratch.add(rows)
                rows.clear()
    scratch.add(rows)


def _taken(line: int, entry: RosterEntry, holder: Holder) -> RowError:
    codes = list(dict.fromkeys(code for code, _, _ in holder.grants))
    params = {"phone": entry.address.value, "name": holder.name, "orgs": ", ".join(codes)}
    return RowError(line, "phone_taken" if codes else "phone_taken_no_org", params)


# A Party member belongs to one branch, a branch has its secretary: the same role in a second
# organisation of the same kind is more often a move than a second post.
_ONE_PLACE = (Role.MEMBER, Role.SECRETARY)


def _held_elsewhere(
    entry: RosterEntry,
    holder: Holder,
    kind_of: dict[int, str],
    listed_at: set[int],
    code_of: dict[int, str],
) -> str:
    """Codes of other organisations of the entry's kind where the holder has its role and
    that the file does not list them in (empty: nothing to say)."""
    if entry.role not in _ONE_PLACE:
        return ""
    kind = kind_of.get(entry.org_id)
    listed_codes = {code_of[o] for o in listed_at if o in code_of}
    return ", ".join(
        code
        for code, org_kind, role in holder.grants
        if role is entry.role and org_kind == kind and code not in listed_codes
    )
