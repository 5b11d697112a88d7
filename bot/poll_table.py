"""A poll's results as rows (scope, option, count, share), under the privacy rules: the
figures `grassroots poll results --csv` writes and the console exports as CSV and XLSX.

No breakdown of fewer than MIN_BREAKDOWN answers, and a branch only when visible_branches
allows it (bot/polls.py); a hidden row has its count and share empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.polls import MIN_BREAKDOWN, shares, visible_branches
from storage.polls import Poll, Tally

CSV_HEADER = ("poll", "scope", "option", "count", "share_percent")


@dataclass(frozen=True, slots=True)
class Row:
    scope: str
    option: str
    count: int | None  # None: hidden, fewer than MIN_BREAKDOWN answers in its scope
    share: int | None


def scope_rows(scope: str, labels: tuple[str, ...], counts: tuple[int, ...]) -> list[Row]:
    total = sum(counts)
    if total < MIN_BREAKDOWN:
        return [Row(scope, label, None, None) for label in labels]
    return [
        Row(scope, label, n, percent)
        for label, n, percent in zip(labels, counts, shares(counts), strict=True)
    ]


def result_rows(poll: Poll, tally: Tally, names: dict[int, str]) -> list[Row]:
    """The poll's own organisation first, then each branch by name; `names` maps the
    organisations' ids to their names. Only for a closed poll: an open one shows turnout."""
    labels = poll.options
    rows = scope_rows(names[poll.org_id], labels, tally.counts)
    shown = visible_branches(tally)
    for org_id, counts in sorted(tally.by_org.items(), key=lambda item: names[item[0]]):
        if org_id in shown:
            rows += scope_rows(names[org_id], labels, counts)
        else:  # too few, or would give away another branch's few by subtraction
            rows += [Row(names[org_id], label, None, None) for label in labels]
    return rows


def cells(poll: Poll, row: Row) -> list[object]:
    """One CSV/XLSX line: hidden figures are empty cells."""
    return [
        poll.code,
        row.scope,
        row.option,
        "" if row.count is None else row.count,
        "" if row.share is None else row.share,
    ]
