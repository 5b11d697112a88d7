"""12.17: the CLI shows an open poll's turnout only (figures read before and after one answer
reveal it), and says so; `--force` shows the figures with a warning; no CSV is written for an
open poll without it. The chat refuses the figures too, and both agree the poll has closed at
its closing time, sweep or no sweep."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import App
from tests.conftest import SECRETARY
from tests.security.test_one_sided_results import villagers
from tests.test_polls import opened_by_secretary
from tests.test_polls_everyday import cli, keep_logging  # noqa: F401 (a fixture)

ANSWERS = "111112223"  # with the tenth below, enough answers for a breakdown


def figures(output: str) -> list[str]:
    """Lines of the bar chart: an option's count and share."""
    return re.findall(r"^\s+\S.*\s\d+\s+\d+%$", output, re.M)


async def test_an_open_poll_shows_turnout_only_unless_forced(
    phone,
    county: App,
    db_url: str,
    monkeypatch,
    keep_logging,  # noqa: F811
    tmp_path: Path,
):
    numbers = await villagers(county, 10)
    poll = await opened_by_secretary(county)
    for number, answer in zip(numbers[:-1], ANSWERS, strict=True):
        await phone(number).says(answer)
    csv_path = tmp_path / "open.csv"
    args = ("poll", "results", poll.code, "--csv", str(csv_path))

    before = await cli(county, db_url, monkeypatch, *args)
    assert "turnout: 9/10 (90%), 9 answers" in before.output, before.output
    assert "--force" in before.output  # says why, and how to see them
    assert figures(before.output) == []
    assert not csv_path.exists()
    # One more answer: the two readings differ in turnout only, so they tell nothing of it.
    await phone(numbers[-1]).says("3")
    after = await cli(county, db_url, monkeypatch, *args)
    assert figures(after.output) == [] and not csv_path.exists()
    assert before.output.replace("9/10 (90%), 9", "10/10 (100%), 10") == after.output
    [chat] = await phone(SECRETARY).says(f"结果 {poll.code}")
    assert "票" not in chat and "进行中" in chat, chat

    forced = await cli(county, db_url, monkeypatch, *args, "--force")
    assert "--force" in forced.output and len(figures(forced.output)) == 3, forced.output
    assert csv_path.exists()

    # At the closing instant, with no sweep, the figures are shown without --force.
    county.clock.advance(poll.closes_at - county.clock.now())  # type: ignore[attr-defined]
    closed = await cli(county, db_url, monkeypatch, *args)
    assert "--force" not in closed.output and len(figures(closed.output)) == 3, closed.output
    assert re.search(r"\b5\s+50%$", closed.output, re.M), closed.output
