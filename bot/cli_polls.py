"""`grassroots poll ...`: create a poll from a script, and read its results with a text bar
chart or as CSV. (Registered on the main group by bot/cli.py.)"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.app import App
from bot.config import Config, parse_duration
from bot.polls import (
    MAX_OPTIONS,
    MIN_BREAKDOWN,
    audience,
    create_polls,
    open_poll,
    poll_state,
    reach_and_cost,
    share,
    shares,
    visible_branches,
    when,
)
from storage.polls import AUDIENCE_ROLES, Poll, Tally

BAR_WIDTH = 30


def _at(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    """`now`, a duration from now (`7d`, `12h`), or a local time (`2026-12-01 08:00`)."""
    if value == "now":
        return now
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use now, a duration like 7d, or a time like 2026-12-01 08:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


@click.group()
def poll() -> None:
    """Public evaluation (群众评议): create polls and read their results."""


@poll.command("create")
@click.option("--org", "org_code", required=True, help="Organisation code (its subtree is asked).")
@click.option("--question", default=None, help="The question (omit with --template).")
@click.option(
    "--option", "options", multiple=True, help="An option (repeat; default 满意/基本满意/不满意)."
)
@click.option(
    "--template",
    type=click.Choice(["five-goods"]),
    default=None,
    help="五个好: five questions in turn.",
)
@click.option(
    "--audience", type=click.Choice(sorted(AUDIENCE_ROLES)), default="public", show_default=True
)
@click.option(
    "--opens", default="now", show_default=True, help="now, a delay like 2h, or a local time."
)
@click.option("--closes", default=None, help="A duration after opening like 7d, or a local time.")
@click.option("--no-change", is_flag=True, help="A first answer is final.")
@click.pass_context
def poll_create(
    ctx: click.Context,
    org_code: str,
    question: str | None,
    options: tuple[str, ...],
    template: str | None,
    audience: str,
    opens: str,
    closes: str | None,
    no_change: bool,
) -> None:
    """Create a poll; prints a preview, then the poll's code alone on the last line."""
    from bot.cli import _config, _run, _with_app

    config: Config = _config(ctx)
    if (question is None) == (template is None):
        raise click.UsageError("give either --question or --template")
    if options and not 2 <= len(options) <= MAX_OPTIONS:
        raise click.BadParameter(f"2 to {MAX_OPTIONS} options", param_hint="--option")

    async def work(app: App) -> tuple[list[Poll], dict[str, int], int, int, str]:
        org = await app.repos.orgs.by_code(org_code)
        if org is None:
            raise click.BadParameter(f"no organisation {org_code}", param_hint="--org")
        zone = ZoneInfo(org.timezone) if org.timezone else config.zone
        now = app.clock.now()
        opens_at = _at(opens, zone, now)
        closes_at = (
            _at(closes, zone, opens_at)
            if closes
            else opens_at + timedelta(days=config.participation.poll_days)
        )
        if closes_at <= max(opens_at, now):
            raise click.BadParameter("the poll would close before it opens", param_hint="--closes")
        polls = await create_polls(
            app.repos,
            org_id=org.id,
            question=question,
            options=options,
            audience=audience,
            opens_at=opens_at,
            closes_at=closes_at,
            status="scheduled",
            now=now,
            created_by=None,
            source=f"cli:{now.isoformat()}:{org.id}",
            allow_change=not no_change,
        )
        reach, segments = await reach_and_cost(
            app.repos, polls[0], org.name, zone, config.bot.language
        )
        reached = 0
        if opens_at <= now:
            for one in polls:
                reached = await open_poll(app.repos, one, now, zone, config.bot.language) or reached
        return polls, reach, segments, reached, when(closes_at, zone)

    polls, reach, segments, reached, closes_text = _run(_with_app(config, work))
    first = polls[0]
    click.echo(
        f"{first.code}: {len(polls)} question(s), audience {audience} of {org_code}: "
        f"{sum(reach.values())} people (SMS {reach.get('sms', 0)}, "
        f"Telegram {reach.get('telegram', 0)}), {segments} SMS segment(s) each; "
        f"closes {closes_text}"
    )
    if reached:
        click.echo(f"opened: queued for {reached} people; `grassroots serve` sends it")
    else:
        click.echo(f"opens {when(first.opens_at, config.zone)}; `grassroots serve` opens it then")
    click.echo(first.code)


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
    help="Also write the figures as CSV.",
)
@click.pass_context
def poll_results(ctx: click.Context, code: str, csv_path: Path | None) -> None:
    """Counts and shares per option, turnout, and per branch within a subtree; no breakdown
    of fewer than five answers is shown."""
    from bot.cli import _config, _run, _with_app

    config: Config = _config(ctx)

    async def work(app: App) -> tuple[Poll, Tally, dict[int, str], str, list[str]]:
        found = await app.repos.polls.by_code(code)
        if found is None or found.status in ("draft", "cancelled"):
            raise click.BadParameter(f"no poll {code}", param_hint="CODE")
        tally = await app.repos.polls.tally(found)
        names = {}
        for org_id in [found.org_id, *tally.by_org]:
            org = await app.repos.orgs.by_id(org_id)
            names[org_id] = org.name if org else str(org_id)
        comments = [c.body for c in await app.repos.comments.for_poll(found.id, limit=10)]
        # Open or closed as the chat says it, at this instant, with or without a sweep.
        return found, tally, names, poll_state(found, app.clock.now()), comments

    found, tally, names, status, comments = _run(_with_app(config, work))
    labels = found.options
    rows = _rows(names[found.org_id], labels, tally.counts)
    shown = visible_branches(tally)
    for org_id, counts in sorted(tally.by_org.items(), key=lambda item: names[item[0]]):
        if org_id in shown:
            rows += _rows(names[org_id], labels, counts)
        else:  # too few, or would give away another branch's few by subtraction
            rows += [_Row(names[org_id], label, None, None) for label in labels]
    asked = audience(found, tally)
    click.echo(f"{found.code} ({status}) {names[found.org_id]}: {found.question}")
    click.echo(
        f"turnout: {tally.participants}/{asked} ({share(tally.participants, asked)}%), "
        f"{tally.total} answers"
    )
    width = max(_width(label) for label in labels)
    scope = None
    for row in rows:
        if row.scope != scope:
            scope = row.scope
            click.echo(f"\n{scope}")
        if row.count is None:
            click.echo(f"  {_pad(row.option, width)}  (fewer than {MIN_BREAKDOWN} answers: hidden)")
            continue
        bar = "█" * round(BAR_WIDTH * (row.share or 0) / 100)
        click.echo(
            f"  {_pad(row.option, width)}  {bar:<{BAR_WIDTH}} {row.count:>6} {row.share:>3}%"
        )
    if comments:
        click.echo("\ncomments:")
        for body in comments:
            click.echo(f"  - {body}")
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["poll", "scope", "option", "count", "share_percent"])
            for row in rows:
                writer.writerow(
                    [
                        found.code,
                        row.scope,
                        row.option,
                        "" if row.count is None else row.count,
                        "" if row.share is None else row.share,
                    ]
                )
        click.echo(f"\nwritten {csv_path}")
