"""`grassroots campaign ...`: check a campaign file, and show where the campaign stands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.base import config_of, main, texts_of


@main.group()
def campaign() -> None:
    """The campaign file: phases and milestones the scheduler pushes."""


@campaign.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Count offsets from this date instead of the file's start.",
)
@click.pass_context
def campaign_check(ctx: click.Context, file: Path, start: datetime | None) -> None:
    """Validate FILE (every problem as FILE:LINE: key: problem) and print its timeline."""
    from scheduler.campaign import CampaignError, load_campaign, timeline

    try:
        loaded = load_campaign(file, start=start.date() if start else None)
    except CampaignError as exc:
        click.echo("\n".join(exc.lines(texts_of(ctx))), err=True)
        ctx.exit(1)
    texts = texts_of(ctx)
    click.echo(
        texts.get(
            "cli.campaign.ok",
            source=loaded.source,
            phases=len(loaded.phases),
            milestones=len(loaded.milestones),
            start=loaded.start,
        )
    )
    for line in timeline(loaded, texts.language):
        click.echo(line)


@campaign.command("show")
@click.pass_context
def campaign_show(ctx: click.Context) -> None:
    """Which phase is current and what comes next, for the configured campaign."""
    from scheduler.campaign import CampaignError, current_phase, load_campaign, upcoming

    config, texts = config_of(ctx), texts_of(ctx)
    language = texts.language
    try:
        loaded = load_campaign(
            config.scheduler.campaign or None, start=config.scheduler.campaign_start
        )
    except CampaignError as exc:
        click.echo("\n".join(exc.lines(texts)), err=True)
        ctx.exit(1)
    now = datetime.now(UTC)
    phase = current_phase(loaded, now)
    click.echo(
        texts.get(
            "cli.campaign.title", name=loaded.name[language], id=loaded.id, start=loaded.start
        )
    )
    if phase is None:
        click.echo(texts.get("cli.campaign.no_phase"))
    else:
        end = phase.end.isoformat() if phase.end else texts.get("cli.campaign.open_end")
        click.echo(
            texts.get("cli.campaign.phase", name=phase.name[language], start=phase.start, end=end)
        )
    coming = upcoming(loaded, now)
    if not coming:
        click.echo(texts.get("cli.campaign.nothing_next"))
    for milestone in coming:
        at = f"{milestone.at:%Y-%m-%d %H:%M}"
        click.echo(
            texts.get("cli.campaign.next", at=at, id=milestone.id, text=milestone.text[language])
        )
