"""`grassroots poll ...`: the group, and `poll create` to create a poll from a script
(its results: bot/cli/poll_results.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.config import Config, parse_duration
from bot.polls import MAX_OPTIONS, create_polls, open_poll, reach_and_cost, when
from bot.reach import by_sms, chats_text
from bot.texts import Texts
from storage.polls import AUDIENCE_ROLES, Poll


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


@main.group()
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
    config: Config = config_of(ctx)
    texts = texts_of(ctx)
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

    polls, reach, segments, reached, closes_text, org_name = run(with_app(config, work))
    first = polls[0]
    click.echo(
        texts.get(
            "cli.poll.created",
            code=first.code,
            questions=len(polls),
            audience=texts.get(f"poll.audience.{audience}"),
            org=org_name,
            people=sum(reach.values()),
            sms=by_sms(reach),
            chats=chats_text(texts, reach),
            segments=segments,
            closes=closes_text,
        )
    )
    if reached:
        click.echo(texts.get("cli.poll.opened", count=reached))
    else:
        click.echo(texts.get("cli.poll.opens_later", opens=when(first.opens_at, config.zone)))
    click.echo(first.code)
