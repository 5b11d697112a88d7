"""`grassroots poll ...`: create a poll from a script, and read its results with a text bar
chart or as CSV. (Registered on the main group by bot/cli.py.)"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from bot.app import App
from bot.config import Config, parse_duration
from bot.exports import write_csv
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
from bot.texts import Texts
from storage.polls import AUDIENCE_ROLES, Poll, Tally

BAR_WIDTH = 30


def _at(value: str, zone: ZoneInfo, now: datetime, texts: Texts) -> datetime:
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
        raise click.BadParameter(texts.get("cli.poll.bad_time", value=repr(value))) from None
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
    from bot.cli import _config, _run, _texts, _with_app

    config: Config = _config(ctx)
    texts = _texts(ctx)
    if (question is None) == (template is None):
        raise click.UsageError(texts.get("cli.poll.question_or_template"))
    if options and not 2 <= len(options) <= MAX_OPTIONS:
        raise click.BadParameter(
            texts.get("cli.poll.options_count", max=MAX_OPTIONS), param_hint="--option"
        )

    async def work(app: App) -> tuple[list[Poll], dict[str, int], int, int, str, str]:
        org = await app.repos.orgs.by_code(org_code)
        if org is None:
            raise click.BadParameter(
                texts.get("cli.poll.no_org", code=org_code), param_hint="--org"
            )
        zone = ZoneInfo(org.timezone) if org.timezone else config.zone
        now = app.clock.now()
        opens_at = _at(opens, zone, now, texts)
        closes_at = (
            _at(closes, zone, opens_at, texts)
            if closes
            else opens_at + timedelta(days=config.participation.poll_days)
        )
        if closes_at <= max(opens_at, now):
            raise click.BadParameter(texts.get("cli.poll.closes_before"), param_hint="--closes")
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
        return polls, reach, segments, reached, when(closes_at, zone), org.name

    polls, reach, segments, reached, closes_text, org_name = _run(_with_app(config, work))
    first = polls[0]
    click.echo(
        texts.get(
            "cli.poll.created",
            code=first.code,
            questions=len(polls),
            audience=texts.get(f"poll.audience.{audience}"),
            org=org_name,
            people=sum(reach.values()),
            sms=reach.get("sms", 0),
            telegram=reach.get("telegram", 0),
            segments=segments,
            closes=closes_text,
        )
    )
    if reached:
        click.echo(texts.get("cli.poll.opened", count=reached))
    else:
        click.echo(texts.get("cli.poll.opens_later", opens=when(first.opens_at, config.zone)))
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
    from bot.cli import _config, _run, _texts, _with_app

    config: Config = _config(ctx)
    texts = _texts(ctx)

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

    found, tally, names, status, comments = _run(_with_app(config, work))
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
