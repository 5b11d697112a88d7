"""Which branches are asleep, and why: the rule the console's overview ranks by.

A branch is asleep when any of these holds (each is a reason shown beside it):
- no member has reported for two weeks (or ever);
- its last closed poll was answered by fewer than TURNOUT_FLOOR of those asked;
- it has commitments (公开承诺) past their due day and still open.
Asleep branches come first, those silent longest first; then the rest, least active first
(the share of members who reported this week, then last week).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol

from storage.console_overview import LastPoll

SILENT_AFTER = timedelta(days=14)  # "no report for two weeks"
# Under three in ten of those asked answering a poll means the branch did not carry it to
# the villagers (the issue names no figure; county organisers think in tenths). A constant,
# not a setting: every county should be judged by the same bar.
TURNOUT_FLOOR = 0.3


class Activity(Protocol):
    """What ranking reads of an organisation's own figures (storage/activity.py)."""

    @property
    def org_id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def members(self) -> int: ...
    @property
    def weekly(self) -> Sequence[int]: ...
    @property
    def last_report(self) -> date | None: ...
    @property
    def commitments_overdue(self) -> int: ...


class Reason(StrEnum):
    SILENT = "silent"
    TURNOUT = "turnout"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class Ranked:
    unit: Activity
    reasons: tuple[Reason, ...]
    last_poll: LastPoll | None

    @property
    def asleep(self) -> bool:
        return bool(self.reasons)

    @property
    def this_week(self) -> int:
        return self.unit.weekly[-1] if self.unit.weekly else 0

    @property
    def last_week(self) -> int:
        return self.unit.weekly[-2] if len(self.unit.weekly) > 1 else 0

    @property
    def share(self) -> float:
        """Of its members, the share who reported this week."""
        return self.this_week / self.unit.members if self.unit.members else 0.0


def reasons_for(unit: Activity, last_poll: LastPoll | None, today: date) -> tuple[Reason, ...]:
    found = []
    if unit.last_report is None or today - unit.last_report >= SILENT_AFTER:
        found.append(Reason.SILENT)
    if last_poll is not None and last_poll.asked and last_poll.turnout < TURNOUT_FLOOR:
        found.append(Reason.TURNOUT)
    if unit.commitments_overdue:
        found.append(Reason.OVERDUE)
    return tuple(found)


def rank(
    units: Iterable[Activity], last_polls: Mapping[int, LastPoll], today: date
) -> list[Ranked]:
    """The organisations with members, asleep first (silent longest first, then by how
    many reasons), then the rest, least active first; by code within a tie."""
    ranked = [
        Ranked(u, reasons_for(u, last_polls.get(u.org_id), today), last_polls.get(u.org_id))
        for u in units
        if u.members > 0
    ]

    def key(r: Ranked) -> tuple[object, ...]:
        if r.asleep:
            silent_since = r.unit.last_report or date.min
            return (0, Reason.SILENT not in r.reasons, silent_since, -len(r.reasons), r.unit.code)
        last_share = r.last_week / r.unit.members
        return (1, False, date.min, 0, r.share, last_share, r.unit.code)

    return sorted(ranked, key=key)
