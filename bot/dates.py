"""Due dates as people write them in a commitment: 到 12-31, 明天, 下周五, 月底, 年底前,
国庆前, 十天内, 三个月内, 2027-01-15, by friday.

`find_due` finds the date words in a folded text (NFKC, case-folded) and reads them as a day
in the organisation's calendar (`today` is local); `read_due` reads an answer that is only a
date. Words that look like a date but cannot be read (到 下下下周, 到 猴年马月, 13月5日)
are found too, with no day, so that the caller asks back rather than keep them as text.

What a word means (the rule where people are vague):
- a day (明天, 周五, 12月31日) is the due day, with or without 前: "12月31日前" is on the 31st;
- a period (月底, 本周, 年底, 十天内, 下个月) ends the day its end falls on; "下个月前" and
  "6月前" mean before that month begins;
- a festival (国庆, 春节, 中秋) is its day, and "国庆前" the day before; "年前" is before
  the Spring Festival;
- a weekday alone (周五) is the next one, today included; 本周五 this week's, 下周五 next
  week's (weeks start on Monday); a month-day alone already past this year is next year's;
- a day already past is no due date: it is asked back.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from bot import festivals

# --- numbers ------------------------------------------------------------------------------

_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_NUM = r"(?:\d{1,4}|[零〇一二两三四五六七八九十百]{1,5})"


def cn_number(text: str) -> int | None:
    """12, 十二, 二十五, 一百零五, 两 → an int; None if it is not a number."""
    if text.isdigit():
        return int(text)
    if not text or any(c not in _DIGITS and c not in "十百" for c in text):
        return None
    total, current = 0, None
    for c in text:
        if c in _DIGITS:
            if current is not None:  # "二二" is no number
                return None
            current = _DIGITS[c]
        else:
            unit = 10 if c == "十" else 100
            total += (1 if current is None else current) * unit
            current = None
    return total + (current or 0)


# --- what was found -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Found:
    start: int  # where the date words begin in the text (a marker such as 到 included)
    end: int
    due: date | None  # None: date words that cannot be read, or a day already past
    typed: str  # the words as found, to quote when asking back


# Words that introduce a due date; consumed with it so that the text left reads well.
_MARKER = (
    r"(?:(?:截止到|截止|截至|争取在|争取|力争在|力争|计划在|保证在|要在|确保在|在|于|到|至"
    r"|(?<![a-z])by|(?<![a-z])before|(?<![a-z])due(?:\s+on)?|(?<![a-z])until)\s*[:：]?\s*)"
)
# Words that close one: 前 and 内 are what make a bare number a date (12-31前).
_BEFORE = r"(?P<before>之前|以前|前)"
_SUFFIX = rf"(?:\s*(?:{_BEFORE}|之内|以内|内|为止|止|截止))?"
# "完成" right after the date at the end of the text belongs to it: "到12月31日完成".
_DONE_TAIL = re.compile(r"\s*(?:完成|完工|办好|做到|落实|兑现)?\s*[。.!！]*\s*$")
_SEP = " \t\n,，:：、;；。.!！"

_WEEKDAY_ZH = (
    {c: i for i, c in enumerate("一二三四五六日")}
    | {"天": 6, "七": 6}
    | {str(i + 1): i for i in range(7)}
)
_WEEKDAY_EN = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _past_is_next_year(due: date, today: date) -> date | None:
    """A month and day without a year: this year's, or next year's once it has passed."""
    if due >= today:
        return due
    try:
        return due.replace(year=due.year + 1)
    except ValueError:  # 2-29
        return None


# --- the grammar: each form is a pattern and how to read it -------------------------------


class Groups(Protocol):
    """A match's groups by name; a group the form does not have reads None."""

    def __getitem__(self, name: str) -> str | None: ...


Reader = Callable[[Groups, date], date | None]


def _weekday_in(today: date, weeks_ahead: int, weekday: int) -> date:
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 * weeks_ahead + weekday)


def _weeks_ahead(prefix: str | None) -> int:
    prefix = (prefix or "").replace("个", "")
    return {"": 0, "本": 0, "这": 0, "下": 1, "下下": 2}[prefix]


def _read_full(m: Groups, today: date) -> date | None:
    try:
        return date(int(m["y"] or 0), int(m["m"] or 0), int(m["d"] or 0))
    except ValueError:
        return None


def _read_month_day(m: Groups, today: date) -> date | None:
    month, day = cn_number(m["m"] or ""), cn_number(m["d"] or "")
    if month is None or day is None:
        return None
    year = _year_of(m, today)
    try:
        due = date(year, month, day)
    except ValueError:
        return None
    return due if m["yw"] or m["yn"] else _past_is_next_year(due, today)


def _read_day_of_month(m: Groups, today: date) -> date | None:
    """ "15号前": this month's 15th, or next month's once it has passed."""
    day = cn_number(m["d"] or "")
    if day is None or not 1 <= day <= 31:
        return None
    for ahead in (0, 1):
        first = _add_months(today.replace(day=1), ahead)
        if (
            day <= calendar.monthrange(first.year, first.month)[1]
            and first.replace(day=day) >= today
        ):
            return first.replace(day=day)
    return None


def _read_month(m: Groups, today: date) -> date | None:
    month = cn_number(m["m"] or "")
    if month is None or not 1 <= month <= 12:
        return None
    year = _year_of(m, today)
    if m["yw"] is None and m["yn"] is None and _month_end(year, month) < today:
        year += 1  # "3月底" said in November: next March
    return _in_month(year, month, m["pos"], m["before"] is not None)


def _in_month(year: int, month: int, pos: str | None, before: bool) -> date:
    if pos in ("初", "上旬"):
        return date(year, month, 10)
    if pos in ("中", "中旬"):
        return date(year, month, 20 if pos == "中旬" else 15)
    if pos is None and before:  # "6月前": before June begins
        return date(year, month, 1) - timedelta(days=1)
    return _month_end(year, month)


def _read_relative_month(m: Groups, today: date) -> date | None:
    ahead = {"本": 0, "这": 0, "这个": 0, "当": 0, "": 0, "下": 1, "下个": 1, "下下个": 2}[
        m["which"] or ""
    ]
    first = _add_months(today.replace(day=1), ahead)
    return _in_month(first.year, first.month, m["pos"], m["before"] is not None)


def _year_of(m: Groups, today: date) -> int:
    """The year a form names: 今年, 明年, 后年, or written out (2027年)."""
    if m["yn"]:
        return int(m["yn"])
    return today.year + {"明年": 1, "后年": 2}.get(m["yw"] or "", 0)


def _read_year(m: Groups, today: date) -> date | None:
    if m["yn"]:
        year = int(m["yn"])
    else:
        year = today.year + {"明年": 1, "后年": 2}.get(m["which"] or "", 0)
    pos = m["pos"]
    if pos in ("上半年", "年中"):
        return date(year, 6, 30)
    if pos is None and m["before"] is not None:  # "明年前": before next year begins
        return date(year - 1, 12, 31)
    return date(year, 12, 31)


def _read_relative_day(m: Groups, today: date) -> date | None:
    ahead = {"今天": 0, "今日": 0, "今晚": 0, "明天": 1, "明日": 1, "明早": 1, "明晚": 1}
    ahead |= {"后天": 2, "大后天": 3, "today": 0, "tonight": 0, "tomorrow": 1}
    return today + timedelta(days=ahead[m["rel"] or "today"])


def _read_weekday(m: Groups, today: date) -> date | None:
    if m["wd"] == "末":
        weekday = 6
    else:
        weekday = _WEEKDAY_ZH[m["wd"] or "一"]
    if m["which"] is None and m["wd"] != "末":  # 周五: the next one, today included
        return today + timedelta(days=(weekday - today.weekday()) % 7)
    return _weekday_in(today, _weeks_ahead(m["which"]), weekday)


def _read_week(m: Groups, today: date) -> date | None:
    return _weekday_in(today, _weeks_ahead(m["which"]), 6)


def _read_weekday_en(m: Groups, today: date) -> date | None:
    weekday = _WEEKDAY_EN.index((m["wd"] or "mon")[:3])
    if m["next"]:
        return _weekday_in(today, 1, weekday)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _read_end_en(m: Groups, today: date) -> date | None:
    if m["what"] == "year":
        return date(today.year, 12, 31)
    if m["what"] == "week":
        return _weekday_in(today, 0, 6)
    return _month_end(today.year, today.month)


def _year_pos(m: Groups) -> str | None:
    if m["pos2"] is not None:
        return "年底"
    if m["pos3"] is not None:  # "2027年底", "2027年上半年"; "2027年" alone is its end
        return {"年": None, "年上半年": "上半年", "年中": "年中"}.get(m["pos3"] or "", "年底")
    return m["pos"]


def _plural(unit: str | None) -> str:
    return (unit or "").rstrip("s") + "s"


def _read_festival(m: Groups, today: date) -> date | None:
    if m["lunar_year"]:  # 年前: before the Spring Festival
        return festivals.next_festival("春节", today, before=True)
    return festivals.next_festival(m["fest"] or "", today, before=m["before"] is not None)


def _read_duration(m: Groups, today: date) -> date | None:
    unit = m["unit"] or ""
    if m["n"] == "半":  # 半个月内, 半年内
        half = {"个月": timedelta(days=15), "月": timedelta(days=15)}.get(unit)
        return today + half if half else _add_months(today, 6) if unit == "年" else None
    count = cn_number(m["n"] or "")
    if count is None or count <= 0:
        return None
    if unit in ("天", "日", "days"):
        return today + timedelta(days=count)
    if unit in ("工作日", "个工作日"):
        day = today
        while count:
            day += timedelta(days=1)
            count -= day.weekday() < 5
        return day
    if unit in ("周", "个星期", "星期", "个礼拜", "礼拜", "weeks"):
        return today + timedelta(days=7 * count)
    if unit in ("个月", "months"):
        return _add_months(today, count)
    if unit in ("年", "years"):
        return _add_months(today, 12 * count)
    return None


_YW = r"(?:(?P<yw>今年|明年|后年)|(?P<yn>20\d\d)\s*年)?"
_FORMS: list[tuple[re.Pattern[str], Reader, bool]] = [
    # (pattern, reader, needs a marker or 前/内: a bare "12-31" is too easily a score)
    (
        re.compile(
            r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})(?!\d)\s*[日号]?"
        ),
        _read_full,
        False,
    ),
    (
        re.compile(rf"{_YW}(?P<m>{_NUM})\s*月\s*(?P<d>{_NUM})\s*[日号]?"),
        _read_month_day,
        False,
    ),
    (
        re.compile(rf"(?<![月\d十])(?P<d>{_NUM})\s*[日号](?![\d楼院房室组栋队线路车机店门])"),
        _read_day_of_month,
        True,
    ),
    (
        re.compile(r"(?<![\d.])(?P<m>\d{1,2})\s*[-/.]\s*(?P<d>\d{1,2})(?![\d%])"),
        _read_month_day,
        True,
    ),
    (
        re.compile(
            rf"{_YW}(?P<m>{_NUM})\s*月份?(?P<pos>底|末|初|上旬|中旬|下旬|中)?(?!\s*[0-9零一二两三四五六七八九十])"
        ),
        _read_month,
        False,
    ),
    (
        re.compile(
            r"(?P<which>本|这个|这|当|下下个|下个|下)?月(?P<pos>底|末|初|上旬|中旬|下旬|中)"
            r"|(?P<which2>本|这个|这|当|下下个|下个|下)月(?P<pos2>)"
        ),
        lambda m, today: _read_relative_month(_Regroup(m, which=m["which"] or m["which2"]), today),
        False,
    ),
    (
        re.compile(
            r"(?P<which>今年|本年|明年|后年)?(?P<pos>年底|年末|年内|年中|上半年|下半年)"
            r"|(?P<which2>今年|本年|明年|后年)(?P<pos2>底|末|内)"
            r"|(?P<yn>20\d\d)\s*(?P<pos3>年底|年末|年内|年中|年上半年|年下半年|年)"
            r"|(?P<which3>明年|后年)"
        ),
        lambda m, today: _read_year(
            _Regroup(
                m,
                which=m["which"] or m["which2"] or m["which3"],
                pos=_year_pos(m),
            ),
            today,
        ),
        False,
    ),
    (
        re.compile(r"(?P<rel>大后天|后天|今天|今日|今晚|明天|明日|明早|明晚)"),
        _read_relative_day,
        False,
    ),
    (re.compile(r"(?<![a-z])(?P<rel>today|tonight|tomorrow)(?![a-z])"), _read_relative_day, False),
    (
        re.compile(
            r"(?P<which>本|这个|这|下下个|下下|下个|下)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7]|末)"
        ),
        _read_weekday,
        False,
    ),
    (re.compile(r"(?P<which>本|这个|这|下下个|下下|下个|下)(?:周|星期|礼拜)"), _read_week, False),
    (
        re.compile(
            r"(?<![a-z])(?P<next>next\s+)?(?P<wd>mon|tue|wed|thu|fri|sat|sun)"
            r"(?:day|s|nesday|rsday|urday)?(?![a-z])"
        ),
        _read_weekday_en,
        True,
    ),
    (
        re.compile(r"(?<![a-z])(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?P<what>month|year|week)"),
        _read_end_en,
        False,
    ),
    (
        re.compile(rf"{festivals.PATTERN}|(?P<lunar_year>年)(?=前|之前|以前)"),
        _read_festival,
        False,
    ),
    (
        re.compile(
            rf"(?P<n>{_NUM}|半)\s*"
            r"(?P<unit>个工作日|工作日|个星期|星期|个礼拜|礼拜|个月|天|日|周|年|(?<=半)月)"
            r"(?=\s*(?:之内|以内|内|时间内|之后|以后|后))"
        ),
        _read_duration,
        False,
    ),
    (
        re.compile(
            r"(?<![a-z])(?:with)?in\s+(?P<n>\d{1,3})\s+(?P<unit>days?|weeks?|months?|years?)"
        ),
        lambda m, today: _read_duration(_Regroup(m, unit=_plural(m["unit"])), today),
        False,
    ),
]


_DURATION_FORMS = frozenset(n for n, form in enumerate(_FORMS) if form[1] is _read_duration)
_DAY_FORMS = frozenset(
    n
    for n, form in enumerate(_FORMS)
    if form[1]
    in (_read_full, _read_month_day, _read_day_of_month, _read_relative_day, _read_weekday)
)
_WEEKDAY_FORMS = frozenset(
    n for n, form in enumerate(_FORMS) if form[1] in (_read_weekday, _read_weekday_en)
)


class _Regroup:
    """A match seen with some groups renamed or replaced (alternatives of one form)."""

    def __init__(self, match: Groups, **groups: str | None) -> None:
        self._match = match
        self._groups = groups

    def __getitem__(self, name: str) -> str | None:
        if name in self._groups:
            return self._groups[name]
        return self._match[name]


_MARKER_RE = re.compile(_MARKER)
_SUFFIX_RE = re.compile(_SUFFIX)
_AFTER_RE = re.compile(r"\s*(?:之后|以后|后|时间内)")
# A time of day after a day ("明天下午", "周五晚上8点"): part of the date words.
_PART_OF_DAY = r"(?:上午|下午|晚上|早上|早晨|中午|傍晚|凌晨)"
_HOUR = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})\s*[点时:：]\s*(?:\d{1,2}|半)?\s*分?"
_CLOCK_RE = re.compile(rf"\s*(?:{_PART_OF_DAY}\s*(?:{_HOUR})?|{_HOUR})")
_RANGE_RE = re.compile(r"\s*(?:到|至|~|～|-|—)")
# Date words no form reads: three 下 in a row, an idiom of "never".
_UNREADABLE = re.compile(
    rf"{_MARKER}?(?:(?:下|上){{3,}}个?(?:周|星期|礼拜|月)[一二三四五六日天末]?"
    r"|猴年马月|驴年马月|遥遥无期|[上前]个?(?:周|星期|礼拜)[一二三四五六日天末]?|昨天|前天)"
)
# After 到 at the very end: a few characters with a date word in them that nothing read.
_DATE_CHARS = re.compile(r"[年月日号周天底末节旬星期礼拜]")
# (a space after 到 marks what follows as the date, as in "修路 到 猴年马月").
_TRAILING = re.compile(rf"(?:到|截止到|截止|截至|by|due)\s+(?P<x>[^{_SEP}]{{1,6}})[{_SEP}]*$")


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    due: date | None
    routine: bool = False  # 每周五: a routine, never a due date
    form: int = 0  # which form read it


def _hits(text: str, today: date) -> list[_Hit]:
    hits: list[_Hit] = []
    at = 0
    while at < len(text):
        hit = _hit_at(text, at, today)
        if hit is None:
            at += 1
            continue
        hits.append(hit)
        at = hit.end
    # "周一到周五", "每周一至周五": a span of days is a routine or a period, not a due date.
    dropped: set[int] = set()
    for n, hit in enumerate(hits):
        if hit.routine:
            dropped.add(n)
        later = hits[n + 1] if n + 1 < len(hits) else None
        if (
            later is not None
            and _RANGE_RE.match(text, hit.end)
            and (later.start == hit.end or _RANGE_RE.fullmatch(text, hit.end, later.start))
        ):
            if hit.routine or _WEEKDAY_FORMS.intersection((hit.form, later.form)):
                dropped.update((n, n + 1))
    kept = [hit for n, hit in enumerate(hits) if n not in dropped]
    # "明年春节前", "下周五下午": words that touch read as one date, the later the finer.
    merged: list[_Hit] = []
    for hit in kept:
        last = merged[-1] if merged else None
        if last is not None and not text[last.end : hit.start].strip():
            merged[-1] = _Hit(last.start, hit.end, hit.due, hit.routine, hit.form)
        else:
            merged.append(hit)
    return merged


def _hit_at(text: str, at: int, today: date) -> _Hit | None:
    if at and text[at - 1] in "下上":  # the tail of 下下下周 or 上周: no date of ours
        return None
    marker = _MARKER_RE.match(text, at)
    begin = marker.end() if marker else at
    routine = text[at - 1 : at] == "每" if at else False
    for form, (pattern, read, needs_marker) in enumerate(_FORMS):
        found = pattern.match(text, begin)
        if found is None or found.end() == begin:
            continue
        close = found.end()
        if form in _DAY_FORMS and (clock := _CLOCK_RE.match(text, close)):
            close = clock.end()
        suffix = _SUFFIX_RE.match(text, close)
        end = suffix.end() if suffix else close
        before = bool(suffix and suffix.group("before"))
        if needs_marker and marker is None and end == close:
            continue
        if text[end : end + 1] == "起" or text.startswith(("开始", "开工", "动工"), end):
            return None  # 今天起: when it begins, not when it is due
        after = _AFTER_RE.match(text, end)
        if after and form not in _DURATION_FORMS:
            continue
        if after:
            end = after.end()
        due = read(_WithBefore(found, before), today)
        if due is not None and due < today:
            due = None  # already past: asked back
        return _Hit(at if marker else begin, end, due, routine, form)
    return None


class _WithBefore:
    """A match that also answers m["before"]: whether 前 closed it."""

    def __init__(self, match: re.Match[str], before: bool) -> None:
        self._match = match
        self._before = before

    def __getitem__(self, name: str) -> str | None:
        if name == "before":
            return "前" if self._before else None
        return self._match[name] if name in self._match.re.groupindex else None


def find_due(text: str, today: date) -> Found | None:
    """The due date in folded `text`: the date words that end it, else those that begin
    it, else the first found; None if there are none. Words that look like a date and
    cannot be read come back with `due` None."""
    hits = _hits(text, today)
    stripped = len(text.rstrip(_SEP))
    chosen = (
        next((h for h in hits if h.end >= stripped), None)
        or next((h for h in hits if not text[: h.start].strip(_SEP)), None)
        or (hits[0] if hits else None)
    )
    if chosen is not None:
        end = chosen.end
        if end < stripped:  # "到12月31日完成": the verb closing the text goes with the date
            tail = _DONE_TAIL.match(text, end)
            if tail:
                end = tail.end()
        return Found(chosen.start, end, chosen.due, text[chosen.start : end].strip(_SEP))
    trailing = _TRAILING.search(text)
    if trailing is not None and _DATE_CHARS.search(trailing["x"]):
        return Found(trailing.start(), len(text), None, text[trailing.start() :].strip(_SEP))
    odd = _UNREADABLE.search(text)
    if odd is not None:
        return Found(odd.start(), odd.end(), None, odd.group(0).strip(_SEP))
    return None


def read_due(text: str, today: date) -> Found | None:
    """An answer that is a date and nothing else ("下周五", "到12月31日前", "friday"); a
    Found with no day if it looks like one that cannot be read; None if it is no date."""
    text = text.strip(_SEP)
    # As if after 到 when it has none: an answer needs no marker ("12-31", "friday").
    for said in (text, "到" + text):
        found = find_due(said, today)
        if found is not None and found.start == 0 and not said[found.end :].strip(_SEP):
            return Found(0, len(text), found.due, text)
    return None
