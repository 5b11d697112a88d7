"""How a commitment reads, in a reply, a list, a reminder or a publication: shared by the
chat handlers and the scheduler's sweep, so a commitment reads the same everywhere."""

from __future__ import annotations

from datetime import date

from bot.segments import count_segments
from bot.texts import Texts
from storage.commitments import Commitment, Schedule

LIST_SEGMENTS = 2
EXCERPT_CHARS = 16  # of a commitment's text, in a list or a reminder
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def date_text(texts: Texts, day: date, today: date) -> str:
    key = "commitment.date" if day.year == today.year else "commitment.date_year"
    month = texts.get(f"commitment.month.{day.month}")
    return texts.get(key, year=day.year, month=month, day=day.day)


def excerpt(texts: Texts, body: str, limit: int = EXCERPT_CHARS) -> str:
    return body if len(body) <= limit else body[:limit] + texts.get("commitment.ellipsis")


def when_text(texts: Texts, schedule: Schedule) -> str:
    minute = schedule.minute or 0
    return texts.get(
        "commitment.when",
        weekday=texts.get(f"commitment.weekday.{WEEKDAYS[schedule.weekday or 0]}"),
        time=f"{minute // 60:02d}:{minute % 60:02d}",
    )


def item_text(texts: Texts, c: Commitment, today: date, held: bool = False) -> str:
    """One commitment in a list: C3李秀英：本月帮扶两户困难户（12月31日前，进展2次）."""
    notes = []
    if c.due_on is not None:
        key = "commitment.note.overdue" if c.due_on < today and c.is_open else "commitment.note.due"
        notes.append(texts.get(key, date=date_text(texts, c.due_on, today)))
    if c.progress:
        notes.append(texts.get("commitment.note.progress", count=c.progress))
    if not c.is_open:
        notes.append(texts.get("commitment.note.done"))
    if held and c.published_at is None:
        notes.append(texts.get("commitment.note.held"))
    return texts.get(
        "commitment.item",
        code=c.code,
        who=c.author if c.author and not c.is_branch else texts.get("commitment.branch_who"),
        body=excerpt(texts, c.body),
        notes=texts.get("commitment.notes", notes=texts.get("list.separator").join(notes))
        if notes
        else "",
    )


def fit(texts: Texts, key: str, lines: list[str], **params: object) -> str:
    """`key` with as many of `lines` as fit LIST_SEGMENTS, then "等共N项"."""
    sep = texts.get("commitment.item_sep")
    for shown in range(len(lines), 0, -1):
        more = texts.get("commitment.more", count=len(lines)) if shown < len(lines) else ""
        body = texts.get(key, items=sep.join(lines[:shown]) + more, **params)
        if count_segments(body).segments <= LIST_SEGMENTS or shown == 1:
            return body
    return texts.get(key, items="", **params)
