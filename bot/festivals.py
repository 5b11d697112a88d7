"""Festivals people set due dates by (国庆前, 春节前, 中秋): the day each falls on.

Fixed festivals follow the Gregorian calendar; lunar ones come from a table by year, and a
festival beyond the table is not guessed (the caller asks back). Extend the table yearly.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Festivals on fixed days of the Gregorian calendar.
_FIXED = {
    "元旦": (1, 1),
    "三八": (3, 8),
    "三八节": (3, 8),
    "妇女节": (3, 8),
    "五一": (5, 1),
    "劳动节": (5, 1),
    "六一": (6, 1),
    "儿童节": (6, 1),
    "七一": (7, 1),
    "建党节": (7, 1),
    "八一": (8, 1),
    "建军节": (8, 1),
    "教师节": (9, 10),
    "国庆": (10, 1),
    "国庆节": (10, 1),
    "十一": (10, 1),
}
# Festivals of the lunar calendar, by year (beyond the table a festival is asked back).
_LUNAR: dict[str, dict[int, tuple[int, int]]] = {
    "春节": {
        2026: (2, 17),
        2027: (2, 6),
        2028: (1, 26),
        2029: (2, 13),
        2030: (2, 3),
        2031: (1, 23),
        2032: (2, 11),
    },
    "清明": {2026: (4, 5), 2027: (4, 5), 2028: (4, 4), 2029: (4, 4), 2030: (4, 5)},
    "端午": {2026: (6, 19), 2027: (6, 9), 2028: (5, 28), 2029: (6, 16), 2030: (6, 5)},
    "中秋": {2026: (9, 25), 2027: (9, 15), 2028: (10, 3), 2029: (9, 22), 2030: (9, 12)},
    "重阳": {2026: (10, 18), 2027: (10, 8), 2028: (10, 26), 2029: (10, 16), 2030: (10, 5)},
}
_FESTIVAL_ALIASES = {
    "过年": "春节",
    "春节": "春节",
    "大年三十": "除夕",
    "除夕": "除夕",
    "元宵": "元宵",
    "元宵节": "元宵",
    "清明": "清明",
    "清明节": "清明",
    "端午": "端午",
    "端午节": "端午",
    "中秋": "中秋",
    "中秋节": "中秋",
    "重阳": "重阳",
    "重阳节": "重阳",
}
# 五一, 十一, 七一... are festivals only as words of their own ("十一户", "二十八一" are not).
_NUMERIC = ("三八", "五一", "六一", "七一", "八一", "十一")
_NOT_BEFORE = r"(?<![0-9零一二两三四五六七八九十百])"
_NOT_AFTER = r"(?![0-9零一二两三四五六七八九十百千万月日号个户人天年次条名位家块元亩期班组])"
# A pattern for every festival name (group "fest"), longest first.
PATTERN = (
    "(?P<fest>"
    + "|".join(
        sorted(
            (re.escape(n) for n in (*_FIXED, *_FESTIVAL_ALIASES) if n not in _NUMERIC),
            key=len,
            reverse=True,
        )
    )
    + f"|{_NOT_BEFORE}(?:{'|'.join(_NUMERIC)}){_NOT_AFTER})"
)


def festival_day(name: str, year: int) -> date | None:
    """The day a festival falls on in `year`; None beyond the lunar table."""
    if name in _FIXED:
        month, day = _FIXED[name]
        return date(year, month, day)
    key = _FESTIVAL_ALIASES[name]
    if key == "除夕":
        spring = festival_day("春节", year)
        return spring - timedelta(days=1) if spring else None
    if key == "元宵":
        spring = festival_day("春节", year)
        return spring + timedelta(days=14) if spring else None
    found = _LUNAR[key].get(year)
    return date(year, *found) if found else None


def next_festival(name: str, today: date, before: bool) -> date | None:
    """The festival's next day (or the day before it, for 前) not already past."""
    for year in (today.year, today.year + 1):
        day = festival_day(name, year)
        if day is None:
            return None
        due = day - timedelta(days=1) if before else day
        if due >= today:
            return due
    return None
