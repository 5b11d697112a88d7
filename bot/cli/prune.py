"""`grassroots prune`: apply the retention setting now, as the scheduler does once a day,
and say what was done (storage/retention.py; partitions ahead on PostgreSQL)."""

from __future__ import annotations

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.config import parse_duration
from storage import partitions, retention


@main.command()
@click.option(
    "--keep",
    default=None,
    metavar="DURATION",
    help="Keep this long instead of [storage] keep_messages (e.g. 400d).",
)
@click.pass_context
def prune(ctx: click.Context, keep: str | None) -> None:
    """Drop the texts of old messages and remove whole months past retention (counted first)."""
    config, texts = config_of(ctx), texts_of(ctx)
    try:
        period = parse_duration(keep) if keep is not None else config.storage.retention()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--keep") from exc

    async def work(app: App) -> retention.Pruned | list[str]:
        db, now = app.repos.db, app.clock.now()
        created = await partitions.ensure_ahead(db, now) if db.dialect == "postgresql" else []
        if period is None:
            return created
        done = await retention.prune(db, now, period)
        done.created = created
        return done

    done = run(with_app(config, work))
    if not isinstance(done, retention.Pruned):
        click.echo(texts.get("cli.prune.off"))
        for name in done:
            click.echo(texts.get("cli.prune.created", name=name))
        return
    click.echo(texts.get("cli.prune.cutoff", cutoff=done.cutoff.strftime("%Y-%m-%d %H:%M UTC")))
    for table, count in done.texts.items():
        click.echo(texts.get("cli.prune.texts", table=table, count=count))
    for table, count in done.rows.items():
        click.echo(texts.get("cli.prune.rows", table=table, count=count))
    for name in done.partitions:
        click.echo(texts.get("cli.prune.dropped", name=name))
    for name in done.created:
        click.echo(texts.get("cli.prune.created", name=name))
