"""`grassroots poll results`: a poll's figures as a text bar chart, or as CSV, under the
same privacy rules as the bot."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import click

from bot.app import App
from bot.cli.base import config_of, run, texts_of, with_app
from bot.cli.polls import poll
from bot.config import Config
from bot.exports import write_csv
from bot.polls import MIN_BREAKDOWN, audience, poll_state, share, shares, visible_branches, when
from storage.polls import Poll, Tally

BAR_WIDTH = 30


@dataclass(frozen=True, slots=True)
class _Row:
    scope: str
    option: str
    count: int | None  # None: hidden, fewer than MIN_BREAKDOWN answers in its scope
    share: int | None


def _rows(scope: str, labels: tuple[str, ...], counts: tuple[int, ...]) -> list[_Row]:
    total = sum(counts)
    if total < MIN_BREAKDOWN:
        return [_Row(scope, label, None, None) for label in labels]
    return [
        _Row(scope, label, n, percent)
        for label, n, percent in zip(labels, counts, shares(counts), strict=True)
    ]


def _width(text: str) -> int:
    """Columns a terminal gives the text: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@poll.command("results")
@click.argument("code")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as CSV (cells that could run as formulas are quoted).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Show the figures of a poll that is still open (normally turnout only: figures "
    "read before and after one answer reveal it).",
)
@click.pass_context
def poll_results(ctx: click.Context, code: str, csv_path: Path | None, force: bool) -> None:
    """Counts and shares per option, turnout, and per branch within a subtree; no breakdown
    of fewer than ten answers is shown (not with --force either, nor in the CSV), and while
    the poll is open only its turnout."""
    config: Config = config_of(ctx)
    texts = texts_of(ctx)

    async def work(app: App) -> tuple[Poll, Tally, dict[int, str], str, list[str]]:
        found = await app.repos.polls.by_code(code)
        if found is None or found.status in ("draft", "cancelled"):
            raise click.BadParameter(texts.get("cli.poll.no_poll", code=code), param_hint="CODE")
        tally = await app.repos.polls.tally(found)
        names = {}
        for org_id in [found.org_id, *tally.by_org]:
            org = await app.repos.orgs.by_id(org_id)
            names[org_id] = org.name if org else str(org_id)
        comments = [c.body for c in await app.repos.comments.for_poll(found.id, limit=10)]
        # Open or closed as the chat says it, at this instant, with or without a sweep.
        return found, tally, names, poll_state(found, app.clock.now()), comments

    found, tally, names, status, comments = run(with_app(config, work))
    running = status == "open"
    asked = audience(found, tally)
    click.echo(
        texts.get(
            "cli.poll.heading",
            code=found.code,
            status=texts.get(f"cli.poll.status.{status}"),
            org=names[found.org_id],
            question=found.question,
        )
    )
    click.echo(
        texts.get(
            "cli.poll.turnout",
            answered=tally.participants,
            audience=asked,
            rate=share(tally.participants, asked),
            answers=tally.total,
        )
    )
    if running and not force:
        click.echo(
            texts.get("cli.poll.open_turnout_only", closes=when(found.closes_at, config.zone))
        )
        return
    if running:
        click.echo(texts.get("cli.poll.forced"))
    labels = found.options
    rows = _rows(names[found.org_id], labels, tally.counts)
    shown = visible_branches(tally)
    for org_id, counts in sorted(tally.by_org.items(), key=lambda item: names[item[0]]):
        if org_id in shown:
            rows += _rows(names[org_id], labels, counts)
        else:  # too few, or would give away another branch's few by subtraction
            rows += [_Row(names[org_id], label, None, None) for label in labels]
    width = max(_width(label) for label in labels)
    scope = None
    hidden = texts.get("cli.poll.hidden", minimum=MIN_BREAKDOWN)
    for row in rows:
        if row.scope != scope:
            scope = row.scope
            click.echo(f"\n{scope}")
        if row.count is None:
            click.echo(f"  {_pad(row.option, width)}  {hidden}")
            continue
        bar = "█" * round(BAR_WIDTH * (row.share or 0) / 100)
        click.echo(
            f"  {_pad(row.option, width)}  {bar:<{BAR_WIDTH}} {row.count:>6} {row.share:>3}%"
        )
    if comments:
        click.echo("\n" + texts.get("cli.poll.comments"))
        for body in comments:
            click.echo(f"  - {body}")
    if csv_path is not None:
        write_csv(
            csv_path,
            ["poll", "scope", "option", "count", "share_percent"],
            (
                [
                    found.code,
                    row.scope,
                    row.option,
                    "" if row.count is None else row.count,
                    "" if row.share is None else row.share,
                ]
                for row in rows
            ),
        )
        click.echo("\n" + texts.get("cli.poll.written", path=csv_path))
