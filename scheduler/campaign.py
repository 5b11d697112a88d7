"""Campaign files: the phases and milestones the scheduler pushes, read from TOML.

A campaign file has a `[campaign]` table, `[[phase]]` blocks and `[[milestone]]` blocks (the
shipped `campaigns/cxzy-2010.toml` documents the format at its top). Dates are TOML dates or
offsets from the campaign's start ("start", "start + 90d", "start - 7d", "start + 2w"), so a
campaign of offsets runs from whatever start a deployment gives it.

Loading checks everything and reports every problem at once, each as one line
`FILE:LINE: KEY: problem`. tomllib keeps no positions, so the lines come from a small scanner
over the (already valid) text that notes where each key of each `[[phase]]` and
`[[milestone]]` block sits.
"""

from __future__ import annotations

import calendar
import difflib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.segments import count_segments
from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, Texts, texts_for
from scheduler.toml_positions import KeyPath, TomlPositions
from storage.models import Role

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_TIME = time(9, 0)
MAX_SEGMENTS = 3
DEFAULT_FILE = "cxzy-2010.toml"

_CAMPAIGN_KEYS = ("id", "name", "start", "timezone")
_PHASE_KEYS = ("id", "name", "start", "end")
_MILESTONE_KEYS = ("id", "date", "time", "audience", "subtree", "text", "urgent")

_AUDIENCE = {
    "secretaries": Role.SECRETARY,
    "secretary": Role.SECRETARY,
    "members": Role.MEMBER,
    "member": Role.MEMBER,
    "public": Role.PUBLIC,
    "leaders": Role.LEADER,
    "leader": Role.LEADER,
    "admins": Role.ADMIN,
    "admin": Role.ADMIN,
}
_AUDIENCE_WORDS = "secretaries, members, public, leaders"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ORG_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")  # as the roster import accepts them
_OFFSET = re.compile(r"^start(?:\s*([+-])\s*(\d{1,6})\s*([dw]))?$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
T = TypeVar("T")
_OFFSET_FORMS = '"start", "start + 90d", "start - 7d" or "start + 2w"'


# --- the records --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem: `message` in English; `code` and `params` say it in any language (the
    catalog's `cli.campaign.problem.CODE`), for whoever runs `campaign check`."""

    line: int | None
    key: str
    message: str
    code: str = field(default="", compare=False)
    params: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def text(self, texts: Texts) -> str:
        return _say(texts, self.code, dict(self.params)) if self.code else self.message


def _problem(line: int | None, key: str, code: str, **params: object) -> Problem:
    return Problem(line, key, _say(texts_for("en"), code, params), code, tuple(params.items()))


def _say(texts: Texts, code: str, params: dict[str, object]) -> str:
    """A problem in the language of `texts`; `expected` and `got` name catalog phrases."""
    words = dict(params)
    if "expected" in params:
        words["expected"] = texts.get(f"cli.campaign.expected.{params['expected']}", **params)
    if params.get("got") in _TYPE_WORDS:  # else a Python type name, shown as it is
        words["got"] = texts.get(f"cli.campaign.type.{params['got']}")
    return texts.get(f"cli.campaign.problem.{code}", **words)


class CampaignError(Exception):
    """Every problem of one campaign file; str() is one `FILE:LINE: KEY: problem` per line."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines(texts_for("en"))))

    def lines(self, texts: Texts) -> list[str]:
        return [_describe(self.source, p, p.text(texts)) for p in self.problems]


def _describe(source: str, problem: Problem, message: str) -> str:
    where = f"{source}:{problem.line}" if problem.line is not None else source
    return f"{where}: {problem.key}: {message}"


@dataclass(frozen=True)
class Phase:
    id: str
    name: dict[str, str]
    start: date
    end: date | None  # inclusive; None = open-ended


@dataclass(frozen=True)
class Milestone:
    id: str
    at: datetime  # timezone-aware, in the campaign's time zone
    audience: frozenset[Role]
    subtree: str | None  # an organisation code, upper-cased; None = everyone
    text: dict[str, str]  # one entry per language in bot.texts.LANGUAGES
    urgent: bool = False  # urgent milestones ignore SMS quiet hours


@dataclass(frozen=True)
class Campaign:
    id: str
    name: dict[str, str]
    start: date
    timezone: str
    phases: tuple[Phase, ...]  # by start date (file order among equals)
    milestones: tuple[Milestone, ...]  # by time (file order among equals)
    source: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- loading ------------------------------------------------------------------------------


def default_campaign_path() -> Path:
    """The shipped campaign of the seed (创先争优 2010)."""
    return Path(str(resources.files(__package__).joinpath("campaigns", DEFAULT_FILE)))


def load_campaign(path: str | Path | None = None, *, start: date | None = None) -> Campaign:
    """Read and check a campaign file (None: the shipped default). `start` replaces the
    file's [campaign] start; offsets then count from it. Raises CampaignError with every
    problem found."""
    file = Path(path) if path is not None else default_campaign_path()
    source = str(file)
    if isinstance(start, datetime):
        start = start.date()
    try:
        raw = file.read_bytes()
    except OSError as exc:
        problem = _problem(None, "file", "unreadable", reason=exc.strerror or exc)
        raise CampaignError(source, [problem]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise CampaignError(source, [_problem(bad_line, "file", "not_utf8")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib reads 2026-13-01 as a syntax error; say which date and what is wrong with it.
        impossible = _impossible_dates(text)
        if impossible:
            raise CampaignError(source, impossible) from None
        line, message = _syntax_position(exc)
        raise CampaignError(
            source, [_problem(line, "toml", "invalid_toml", detail=message)]
        ) from None
    checker = _Checker(data, TomlPositions.of(text), source, start)
    campaign = checker.campaign()
    if checker.problems or campaign is None:
        ordered = sorted(checker.problems, key=lambda p: (p.line is not None, p.line or 0))
        raise CampaignError(source, ordered)
    return campaign


# A bare TOML date (or the date of a date-time), outside quotes: checked by hand when tomllib
# refuses the file, since its message names neither the date nor the key.
_BARE_DATE = re.compile(r"(?<![\w.:'\"-])(\d{4})-(\d{2})-(\d{2})(?=$|[\sT,\]}#])")


def _impossible_dates(text: str) -> list[Problem]:
    """Every date in the file that no calendar has, with the key it is the value of."""
    positions = TomlPositions.of(text)
    by_line: dict[int, KeyPath] = {}
    for path, at in positions.at.items():
        if len(path) > len(by_line.get(at, ())):
            by_line[at] = path
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for found in _BARE_DATE.finditer(line):
            if line[: found.start()].count('"') % 2 or line[: found.start()].count("'") % 2:
                continue  # inside a string
            year, month, day = (int(g) for g in found.groups())
            key = _key(by_line[number]) if number in by_line else "date"
            value = found.group(0)
            if not 1 <= month <= 12:
                problems.append(_problem(number, key, "no_such_month", value=value, month=month))
                continue
            last = calendar.monthrange(year, month)[1]
            if not 1 <= day <= last:
                month_text = f"{year}-{month:02d}"
                problems.append(
                    _problem(
                        number,
                        key,
                        "no_such_day",
                        value=value,
                        day=day,
                        month=month_text,
                        last=last,
                    )
                )
    return problems


def _syntax_position(exc: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return int(found[1]), f"{message[: found.start()]} (column {found[2]})"
    return getattr(exc, "lineno", None), message


# --- questions a campaign answers ---------------------------------------------------------

# Labels of the timeline, a listing for whoever deploys (the CLI), in the two languages.
_LABELS = {
    "zh-CN": {
        "phase": "阶段 {id}（{start} 至 {end}）：",
        "open": "结束未定",
        "urgent": "（紧急）",
        "subtree": "（{code} 及下级）",
        "and": "、",
        "colon": "：",
        Role.SECRETARY: "书记",
        Role.MEMBER: "党员",
        Role.PUBLIC: "群众",
        Role.LEADER: "领导",
        Role.ADMIN: "管理员",
    },
    "en": {
        "phase": "phase {id} ({start} to {end}): ",
        "open": "open-ended",
        "urgent": " (urgent)",
        "subtree": " ({code} and below)",
        "and": ", ",
        "colon": ": ",
        Role.SECRETARY: "secretaries",
        Role.MEMBER: "members",
        Role.PUBLIC: "public",
        Role.LEADER: "leaders",
        Role.ADMIN: "admins",
    },
}
_ROLE_ORDER = (Role.SECRETARY, Role.MEMBER, Role.PUBLIC, Role.LEADER, Role.ADMIN)


def timeline(campaign: Campaign, language: str = DEFAULT_LANGUAGE) -> list[str]:
    """One line per phase (at its start) and per milestone, in date order; a phase comes
    before the milestones of its first day. An unknown language falls back to zh-CN."""
    lang = language if language in _LABELS else DEFAULT_LANGUAGE
    label = _LABELS[lang]
    items: list[tuple[tuple[date, time, int, int], str]] = []
    for index, phase in enumerate(campaign.phases):
        end = phase.end.isoformat() if phase.end else label["open"]
        head = str(label["phase"]).format(id=phase.id, start=phase.start.isoformat(), end=end)
        line = f"{phase.start.isoformat()}        {head}{phase.name[lang]}"
        items.append(((phase.start, time.min, 0, index), line))
    for index, milestone in enumerate(campaign.milestones):
        at = milestone.at
        who = label["and"].join(str(label[r]) for r in _ROLE_ORDER if r in milestone.audience)
        if milestone.subtree:
            who += str(label["subtree"]).format(code=milestone.subtree)
        flag = label["urgent"] if milestone.urgent else ""
        body = " ".join(milestone.text[lang].split())
        line = f"{at:%Y-%m-%d %H:%M}  {milestone.id}{flag} → {who}{label['colon']}{body}"
        items.append(((at.date(), at.time(), 1, index), line))
    return [line for _, line in sorted(items, key=lambda item: item[0])]


def _local(campaign: Campaign, now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(campaign.zone)


def current_phase(campaign: Campaign, now: datetime) -> Phase | None:
    """The phase whose days (in the campaign's zone) include `now`; of overlapping phases,
    the one that started last. None before the first, between phases, after the last."""
    today = _local(campaign, now).date()
    found: Phase | None = None
    for phase in campaign.phases:  # by start, so a later match started later
        if phase.start <= today and (phase.end is None or today <= phase.end):
            found = phase
    return found


def upcoming(campaign: Campaign, now: datetime, limit: int = 5) -> list[Milestone]:
    """The next milestones at or after `now`, soonest first, at most `limit`."""
    _local(campaign, now)
    if limit <= 0:
        return []
    return [m for m in campaign.milestones if m.at >= now][:limit]


def _key(path: KeyPath) -> str:
    """("milestone", 2, "text", "en") -> "milestone[3].text.en" (blocks count from 1)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_TYPE_WORDS = (
    "boolean",
    "integer",
    "float",
    "string",
    "array",
    "table",
    "date-time",
    "date",
    "time",
)


def _type_name(value: object) -> str:
    for kind, name in (
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (dict, "table"),
        (datetime, "date-time"),
        (date, "date"),
        (time, "time"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


class _Checker:
    """Turns parsed TOML into a Campaign, collecting every problem on the way."""

    def __init__(
        self, data: dict[str, Any], positions: TomlPositions, source: str, start: date | None
    ) -> None:
        self.data = data
        self.positions = positions
        self.source = source
        self.start_override = start
        self.problems: list[Problem] = []
        self.start: date | None = None
        self.zone: ZoneInfo = ZoneInfo("UTC")

    def problem(self, path: KeyPath, code: str, **params: object) -> None:
        self.problems.append(_problem(self.positions.line(path), _key(path), code, **params))

    def wrong_type(self, path: KeyPath, expected: str, value: object, **params: object) -> None:
        """`expected`: a phrase of cli.campaign.expected (its params in `params`)."""
        self.problem(path, "wrong_type", expected=expected, got=_type_name(value), **params)

    def keys(
        self,
        table: dict[str, Any],
        path: KeyPath,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
    ) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                if close:
                    self.problem((*path, key), "unknown_key_close", close=repr(close[0]))
                else:
                    self.problem((*path, key), "unknown_key", allowed=", ".join(allowed))
        for key in required:
            if key not in table:
                self.problem((*path, key), "missing_key")

    # -- the whole file

    def campaign(self) -> Campaign | None:
        self.keys(self.data, (), ("campaign", "phase", "milestone"), ())
        head = self.data.get("campaign")
        if head is None:
            self.problems.append(_problem(None, "campaign", "missing_campaign"))
            head = {}
        elif not isinstance(head, dict):
            self.wrong_type(("campaign",), "campaign_table", head)
            head = {}
        path: KeyPath = ("campaign",)
        present = isinstance(self.data.get("campaign"), dict)
        self.keys(head, path, _CAMPAIGN_KEYS, ("id", "name") if present else ())
        campaign_id = self.identifier(head, path)
        name = self.languages(head, path, "name") if "name" in head else None
        self.start = self.start_override
        if "start" in head:
            value = head["start"]
            if isinstance(value, date) and not isinstance(value, datetime):
                self.start = self.start or value
            else:
                self.wrong_type((*path, "start"), "start_date", value)
        elif self.start_override is None and present:
            self.problem((*path, "start"), "missing_start")
        timezone = head.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(timezone, str):
            self.wrong_type((*path, "timezone"), "zone", timezone)
        else:
            try:
                self.zone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                self.problem((*path, "timezone"), "unknown_zone", zone=repr(timezone))
        phases = self.blocks("phase", self.phase)
        milestones = self.blocks("milestone", self.milestone)
        if self.problems or campaign_id is None or name is None or self.start is None:
            return None
        return Campaign(
            id=campaign_id,
            name=name,
            start=self.start,
            timezone=str(timezone),
            phases=tuple(sorted(phases, key=lambda p: p.start)),
            milestones=tuple(sorted(milestones, key=lambda m: m.at)),
            source=self.source,
        )

    def blocks(
        self, kind: str, read: Callable[[dict[str, Any], KeyPath, str | None], T | None]
    ) -> list[T]:
        raw = self.data.get(kind, [])
        if not isinstance(raw, list):
            self.wrong_type((kind,), "array_of_tables", raw, kind=kind)
            return []
        seen: dict[str, int] = {}
        out: list[T] = []
        for index, block in enumerate(raw):
            path: KeyPath = (kind, index)
            if not isinstance(block, dict):
                self.wrong_type(path, "block", block, kind=kind)
                continue
            block_id = self.identifier(block, path)
            if block_id is not None:
                if block_id in seen:
                    first = self.positions.line((*path[:1], seen[block_id], "id"))
                    if first:
                        self.problem(
                            (*path, "id"), "duplicate_id_line", id=repr(block_id), first=first
                        )
                    else:
                        where = _key((kind, seen[block_id]))
                        self.problem((*path, "id"), "duplicate_id", id=repr(block_id), where=where)
                else:
                    seen[block_id] = index
            item = read(block, path, block_id)
            if item is not None:
                out.append(item)
        return out

    # -- one block

    def phase(self, block: dict[str, Any], path: KeyPath, phase_id: str | None) -> Phase | None:
        self.keys(block, path, _PHASE_KEYS, ("id", "name", "start"))
        name = self.languages(block, path, "name") if "name" in block else None
        start = self.when(block, path, "start") if "start" in block else None
        end = self.when(block, path, "end") if "end" in block else None
        if start is not None and end is not None and end < start:
            self.problem((*path, "end"), "ends_before", end=end, start=start)
        if phase_id is None or name is None or start is None:
            return None
        if "end" in block and end is None:
            return None
        return Phase(phase_id, name, start, end)

    def milestone(
        self, block: dict[str, Any], path: KeyPath, milestone_id: str | None
    ) -> Milestone | None:
        before = len(self.problems)
        self.keys(block, path, _MILESTONE_KEYS, ("id", "date", "audience", "text"))
        day = self.when(block, path, "date") if "date" in block else None
        at_time = self.time_of_day(block, path)
        audience = self.audience(block, path) if "audience" in block else None
        subtree = self.subtree(block, path)
        text = self.languages(block, path, "text", sms=True) if "text" in block else None
        urgent = block.get("urgent", False)
        if not isinstance(urgent, bool):
            self.wrong_type((*path, "urgent"), "boolean", urgent)
        if (
            len(self.problems) > before
            or milestone_id is None
            or day is None
            or at_time is None
            or audience is None
            or text is None
        ):
            return None
        at = datetime.combine(day, at_time, tzinfo=self.zone)
        return Milestone(milestone_id, at, audience, subtree, text, urgent)

    # -- one value

    def identifier(self, table: dict[str, Any], path: KeyPath) -> str | None:
        if "id" not in table:
            return None
        value = table["id"]
        if not isinstance(value, str):
            self.wrong_type((*path, "id"), "string", value)
        elif not _ID.match(value):
            self.problem((*path, "id"), "bad_id", value=repr(value))
        else:
            return value
        return None

    def languages(
        self, table: dict[str, Any], path: KeyPath, key: str, *, sms: bool = False
    ) -> dict[str, str] | None:
        value, here = table[key], (*path, key)
        if not isinstance(value, dict):
            example = ", ".join(f'{lang} = "…"' for lang in LANGUAGES)
            self.wrong_type(here, "by_language", value, example=example)
            return None
        ok = True
        for lang in value:
            if lang not in LANGUAGES:
                self.problem((*here, lang), "unknown_language", languages=", ".join(LANGUAGES))
                ok = False
        if not any(lang in value for lang in LANGUAGES):
            self.problem(here, "no_text", languages=", ".join(LANGUAGES))
            return None
        out: dict[str, str] = {}
        for lang in LANGUAGES:
            if lang not in value:
                continue  # filled in below from a language the file gives
            entry = value[lang]
            if not isinstance(entry, str):
                self.wrong_type((*here, lang), "string", entry)
                ok = False
            elif not entry.strip():
                self.problem((*here, lang), "empty")
                ok = False
            else:
                out[lang] = entry.strip()
                if sms:
                    count = count_segments(out[lang])
                    if count.segments > MAX_SEGMENTS:
                        self.problem(
                            (*here, lang),
                            "too_long",
                            segments=count.segments,
                            chars=len(out[lang]),
                            encoding=count.encoding,
                            max=MAX_SEGMENTS,
                        )
                        ok = False
        if not ok:
            return None
        # A file may be written in one language: the others read the same text.
        given = next(out[lang] for lang in LANGUAGES if lang in out)
        return {lang: out.get(lang, given) for lang in LANGUAGES}

    def when(self, table: dict[str, Any], path: KeyPath, key: str) -> date | None:
        """A TOML date, or an offset from the campaign start."""
        value, here = table[key], (*path, key)
        if isinstance(value, datetime):
            self.problem(here, "date_with_time", value=value.isoformat())
            return None
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            self.wrong_type(here, "date_or_offset", value, forms=_OFFSET_FORMS)
            return None
        text = value.strip()
        if _ISO_DATE.match(text):
            self.problem(here, "quoted_date", value=repr(value), text=text)
            return None
        found = _OFFSET.match(text)
        if not found:
            self.problem(here, "bad_date_or_offset", value=repr(value), forms=_OFFSET_FORMS)
            return None
        if self.start is None:
            return None  # the start's own problem is reported already
        sign, amount, unit = found.groups()
        days = 0 if amount is None else int(amount) * (7 if unit.lower() == "w" else 1)
        try:
            return self.start + timedelta(days=-days if sign == "-" else days)
        except OverflowError:
            self.problem(here, "offset_range", value=repr(value))
            return None

    def time_of_day(self, block: dict[str, Any], path: KeyPath) -> time | None:
        if "time" not in block:
            return DEFAULT_TIME
        value = block["time"]
        if isinstance(value, time):  # a TOML local time, 09:00:00
            return value
        if not isinstance(value, str):
            self.wrong_type((*path, "time"), "time", value)
            return None
        found = _TIME.match(value.strip())
        if found and int(found[1]) < 24 and int(found[2]) < 60:
            return time(int(found[1]), int(found[2]))
        self.problem((*path, "time"), "bad_time", value=repr(value))
        return None

    def audience(self, block: dict[str, Any], path: KeyPath) -> frozenset[Role] | None:
        value, here = block["audience"], (*path, "audience")
        if not isinstance(value, list):
            self.wrong_type(here, "audience_list", value)
            return None
        if not value:
            self.problem(here, "empty_audience", words=_AUDIENCE_WORDS)
            return None
        roles: set[Role] = set()
        ok = True
        for index, word in enumerate(value):
            if not isinstance(word, str):
                self.wrong_type((*here, index), "string", word)
                ok = False
            elif word.strip().lower() not in _AUDIENCE:
                self.problem(
                    (*here, index), "unknown_audience", word=repr(word), words=_AUDIENCE_WORDS
                )
                ok = False
            else:
                roles.add(_AUDIENCE[word.strip().lower()])
        return frozenset(roles) if ok else None

    def subtree(self, block: dict[str, Any], path: KeyPath) -> str | None:
        """The organisation code, upper-cased; None when absent (or wrong: then a problem)."""
        if "subtree" not in block:
            return None
        value = block["subtree"]
        if not isinstance(value, str):
            self.wrong_type((*path, "subtree"), "org_code", value)
            return None
        code = value.strip().upper()
        if not _ORG_CODE.match(code):
            self.problem((*path, "subtree"), "bad_org_code", value=repr(value))
            return None
        return code
