"""`grassroots demo`: load the demo county and show who to be."""

from __future__ import annotations

from importlib import resources

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.privacy import without_password
from bot.roster import import_orgs, import_people


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Load the demo county: a county committee, two townships, four village branches."""
    config, texts = config_of(ctx), texts_of(ctx)
    data = resources.files("bot") / "demo"

    async def work(app: App) -> None:
        now = app.clock.now()
        with resources.as_file(data / "orgs.csv") as orgs_csv:
            orgs = await import_orgs(app.repos, orgs_csv, now)
        with resources.as_file(data / "people.csv") as people_csv:
            people = await import_people(app.repos, people_csv, now)
        if orgs.errors or people.errors:  # the shipped files are tested; this means a bug
            raise click.ClickException(texts.get("cli.demo.not_clean"))
        click.echo(texts.get("cli.demo.loaded", url=without_password(config.storage.url)))
        click.echo(texts.get("cli.demo.orgs"))
        for org in await app.repos.orgs.all():
            click.echo(f"  {org.code:<8} {org.name}" + (f"（{org.theme}）" if org.theme else ""))
        with resources.as_file(data / "people.csv") as people_csv:
            lines = people_csv.read_text("utf-8").splitlines()[1:]
        click.echo(texts.get("cli.demo.people"))
        for line in lines:
            code, name, phone, role = line.split(",")
            pad = " " * max(1, 8 - sum(2 if ord(c) > 0x2E80 else 1 for c in name))
            click.echo(f"  {code:<8} {name}{pad}+86{phone}  {role}")
        click.echo(texts.get("cli.demo.try_member"))
        click.echo(texts.get("cli.demo.try_villager"))

    run(with_app(config, work))
