"""`grassroots migrate`: create or upgrade the schema."""

from __future__ import annotations

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema in place."""
    config, texts = config_of(ctx), texts_of(ctx)

    async def work(app: App) -> None:
        click.echo(texts.get("cli.migrate.done", dialect=app.repos.db.dialect))

    run(with_app(config, work))
