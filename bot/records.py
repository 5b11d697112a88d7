"""Records for commendation (issue 14): one XLSX workbook of a subtree's campaign for a
period, the file a township hands the county before the 七一 commendation.

Sheets: a summary per organisation (counted in SQL), deeds, commitments and their
fulfilment, results of closed polls, public notices and their outcomes, commentary and
briefings. Under the bot's privacy rules (docs/privacy.md): poll results only of closed
polls, only as shares of at least MIN_BREAKDOWN answers and per branch only where
bot/polls.py visible_branches allows; never a ballot, an objector, an objection's text or
a villager's comment. The workbook is written row by row (openpyxl write-only), deeds read
a page at a time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.exports import safe_row
from bot.polls import MIN_BREAKDOWN, shares, visible_branches
from bot.texts import Texts
from storage.engine import as_date, as_datetime
from storage.models import Org
from storage.polls import PollRepository
from storage.records import SUMMARY_FIGURES, RecordQueries
from storage.repositories import Repositories

MAX_DAYS = 3 * 366  # a period longer than a campaign is a typing error


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # inclusive

    def bounds(self, zone: ZoneInfo) -> dict[str, Any]:
        """The period's days and its instants (from the first local midnight to the one
        after its last day), as query parameters."""
        since = datetime.combine(self.start, time(), zone).astimezone(UTC)
        until = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC)
        return {"start": self.start, "end": self.end, "since": since, "until": until}

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}_{self.end.isoformat()}"


def parse_period(raw_from: str, raw_to: str) -> Period | None:
    try:
        start, end = date.fromisoformat(raw_from), date.fromisoformat(raw_to)
    except ValueError:
        return None
    if end < start or (end - start).days > MAX_DAYS:
        return None
    return Period(start, end)


def filename(org: Org, period: Period) -> str:
    return f"{org.code}-records-{period.label}.xlsx"


class _Book:
    """A write-only workbook whose sheets get a translated, frozen header row and widths."""

    def __init__(self, texts: Texts) -> None:
        self.texts = texts
        self.book = Workbook(write_only=True)

    def sheet(self, name: str, columns: Sequence[tuple[str, int]]) -> WriteOnlyWorksheet:
        sheet = self.book.create_sheet(self.texts.get(f"web.console.records.sheet.{name}"))
        sheet.freeze_panes = "A2"
        for index, (_, width) in enumerate(columns):
            sheet.column_dimensions[_letter(index)].width = width
        head = [self.texts.get(f"web.console.records.col.{key}") for key, _ in columns]
        sheet.append(safe_row(head))
        return sheet

    def save(self) -> bytes:
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()


def _letter(index: int) -> str:
    return chr(ord("A") + index)  # no sheet here has more than 26 columns


def _day(value: Any, zone: ZoneInfo) -> str:
    moment = as_datetime(value)
    return moment.astimezone(zone).date().isoformat() if moment else ""


async def build(
    repos: Repositories, texts: Texts, org: Org, period: Period, zone: ZoneInfo, today: date
) -> tuple[bytes, dict[str, int]]:
    """The workbook, and what it holds (for the audit log): rows per sheet. `today` tells
    an overdue commitment from an open one."""
    db = RecordQueries(repos.db)
    params = {"root": org.id, **period.bounds(zone)}
    names = await db.names(org.id)
    book = _Book(texts)
    counts = {
        "summary": await _summary(db, book, params, names),
        "deeds": await _deeds(db, book, params, names),
        "commitments": await _commitments(db, book, params, names, zone, today),
        "polls": await _polls(db, repos.polls, book, params, names, texts, zone),
        "notices": await _notices(db, book, params, names, texts, zone),
        "commentary": await _commentary(db, book, params, names, zone),
    }
    return book.save(), counts


async def _summary(
    db: RecordQueries, book: _Book, params: dict[str, Any], names: dict[int, tuple[str, str]]
) -> int:
    """One row per organisation of the subtree: every figure one GROUP BY query."""
    figures = await db.summary(params)
    sheet = book.sheet(
        "summary",
        [
            ("code", 12),
            ("org", 22),
            ("members", 10),
            ("deeds", 10),
            ("reporters", 12),
            ("made", 12),
            ("done", 12),
            ("polls", 12),
            ("notices", 10),
        ],
    )
    for org_id, (code, name) in sorted(names.items(), key=lambda item: item[1][0]):
        counted = (figures[f].get(org_id, 0) for f in SUMMARY_FIGURES)
        sheet.append(safe_row([code, name, *counted]))
    return len(names)


async def _deeds(
    db: RecordQueries, book: _Book, params: dict[str, Any], names: dict[int, tuple[str, str]]
) -> int:
    sheet = book.sheet(
        "deeds", [("date", 12), ("member", 12), ("org", 22), ("category", 12), ("text", 60)]
    )
    texts, count = book.texts, 0
    async for row in db.deeds(params):
        day = as_date(row["local_day"])
        category = texts.get(f"category.{row['category']}") if row["category"] else ""
        org = names[row["org_id"]][1]
        sheet.append(
            safe_row(
                [day.isoformat() if day else "", row["name"] or "", org, category, row["body"]]
            )
        )
        count += 1
    return count


async def _commitments(
    db: RecordQueries,
    book: _Book,
    params: dict[str, Any],
    names: dict[int, tuple[str, str]],
    zone: ZoneInfo,
    today: date,
) -> int:
    sheet = book.sheet(
        "commitments",
        [
            ("code", 8),
            ("org", 22),
            ("member", 12),
            ("text", 50),
            ("made_on", 12),
            ("due_on", 12),
            ("status", 10),
            ("done_on", 12),
        ],
    )
    rows = await db.commitments(params)
    texts = book.texts
    for row in rows:
        due = as_date(row["due_on"])
        status = row["status"]
        if status == "open" and due is not None and due < today:
            status = "overdue"
        name = row["name"] or texts.get("web.console.records.branch_commitment")
        sheet.append(
            safe_row(
                [
                    f"C{row['id']}",
                    names[row["org_id"]][1],
                    name,
                    row["body"],
                    _day(row["created_at"], zone),
                    due.isoformat() if due else "",
                    texts.get(f"web.console.records.status.{status}"),
                    _day(row["done_at"], zone),
                ]
            )
        )
    return len(rows)


async def _polls(
    db: RecordQueries,
    repo: PollRepository,
    book: _Book,
    params: dict[str, Any],
    names: dict[int, tuple[str, str]],
    texts: Texts,
    zone: ZoneInfo,
) -> int:
    """One row per option of each closed poll (and per visible branch below it), as
    whole percentages; a poll with fewer than MIN_BREAKDOWN answers shows none."""
    sheet = book.sheet(
        "polls",
        [
            ("code", 8),
            ("org", 22),
            ("question", 40),
            ("closed_on", 12),
            ("answered", 10),
            ("scope", 22),
            ("option", 20),
            ("share", 10),
        ],
    )
    poll_ids = await db.closed_polls(params)
    for poll_id in poll_ids:
        poll = await repo.get(poll_id)
        assert poll is not None
        tally = await repo.tally(poll)
        head = [
            poll.code,
            names[poll.org_id][1],
            poll.question_in(texts.language),
            poll.closes_at.astimezone(zone).date().isoformat(),
            tally.total,
        ]
        options = poll.options_in(texts.language)
        if tally.total < MIN_BREAKDOWN:
            too_few = texts.get("web.console.records.too_few", minimum=MIN_BREAKDOWN)
            sheet.append(safe_row([*head, names[poll.org_id][1], too_few, ""]))
            continue
        parts = [(names[poll.org_id][1], tally.counts)]
        for branch in sorted(visible_branches(tally) - {poll.org_id}):
            if branch in names:
                parts.append((names[branch][1], tally.by_org[branch]))
        for scope, counts in parts:
            for option, share in zip(options, shares(counts), strict=False):
                sheet.append(safe_row([*head, scope, option, f"{share}%"]))
    return len(poll_ids)


async def _notices(
    db: RecordQueries,
    book: _Book,
    params: dict[str, Any],
    names: dict[int, tuple[str, str]],
    texts: Texts,
    zone: ZoneInfo,
) -> int:
    """Each notice's candidates and outcomes, and how many objections it received (never
    who objected, nor what they wrote)."""
    sheet = book.sheet(
        "notices",
        [
            ("code", 8),
            ("org", 22),
            ("published_on", 12),
            ("last_day", 12),
            ("candidate", 12),
            ("outcome", 12),
            ("reason", 30),
            ("objections", 10),
        ],
    )
    rows = await db.notices(params)
    for row in rows:
        outcome = row["outcome"]
        word = texts.get(f"public_notice.outcome.word.{outcome}") if outcome else ""
        last = as_date(row["last_day"])
        sheet.append(
            safe_row(
                [
                    f"G{row['id']}",
                    names[row["org_id"]][1],
                    _day(row["published_at"], zone),
                    last.isoformat() if last else "",
                    row["name"] or "",
                    word or texts.get("web.console.records.pending"),
                    row["reason"] or "",
                    row["objections"],
                ]
            )
        )
    return len({row["id"] for row in rows})


async def _commentary(
    db: RecordQueries,
    book: _Book,
    params: dict[str, Any],
    names: dict[int, tuple[str, str]],
    zone: ZoneInfo,
) -> int:
    sheet = book.sheet(
        "commentary", [("date", 12), ("kind", 10), ("org", 22), ("author", 12), ("text", 60)]
    )
    rows = await db.commentary(params)
    texts = book.texts
    for row in rows:
        sheet.append(
            safe_row(
                [
                    _day(row["created_at"], zone),
                    texts.get(f"web.console.records.kind.{row['kind']}"),
                    names[row["org_id"]][1],
                    row["name"] or "",
                    row["body"],
                ]
            )
        )
    return len(rows)
