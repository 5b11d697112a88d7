"""`grassroots demo`: load the demo county and show who to be; with --serve, then serve it
(the public pages, the browser sandbox and the console) and print their URLs."""

from __future__ import annotations

from importlib import resources

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.config import Config
from bot.privacy import without_password
from bot.roster import ORG_COLUMNS, ORG_REQUIRED, import_orgs, import_people, read_rows
from bot.texts import Texts

DATA = resources.files("bot") / "demo"


@main.command()
@click.option(
    "--serve",
    "then_serve",
    is_flag=True,
    help="Then serve it as `serve` does, printing the URLs of the public pages, the browser "
    "sandbox and the console (a demo already loaded is served as it is).",
)
@click.option(
    "--host",
    default=None,
    help="With --serve: address to listen on (default from config).",
)
@click.option(
    "--port",
    default=None,
    type=int,
    help="With --serve: port to listen on (default from config).",
)
@click.pass_context
def demo(ctx: click.Context, then_serve: bool, host: str | None, port: int | None) -> None:
    """Load the demo county: a county committee, two townships, four village branches."""
    config, texts = config_of(ctx), texts_of(ctx)
    if not then_serve and (host is not None or port is not None):
        raise click.UsageError(texts.get("cli.demo.serve_only"))

    async def work(app: App) -> None:
        await _load(app, config, texts, keep=then_serve)

    run(with_app(config, work))
    if then_serve:
        from bot import serving

        def listening(host: str, port: int) -> None:
            for key, path in pages(config):
                click.echo(texts.get(key, url=page_url(host, port, path)))
            click.echo(texts.get("cli.demo.stop"))

        ctx.exit(
            serving.run(
                config,
                host=host,
                port=port,
                telegram_polling=None,
                print_sms=False,
                listening=listening,
            )
        )


async def _load(app: App, config: Config, texts: Texts, *, keep: bool) -> None:
    """Import the demo files (idempotent) and list its organisations and people. With `keep`,
    a database that already holds the demo's organisations is left as the sandbox made it:
    importing again would undo its changes, or refuse a name someone has since changed."""
    url = without_password(config.storage.url)
    if keep and await _demo_present(app):
        click.echo(texts.get("cli.demo.already", url=url))
    else:
        now = app.clock.now()
        with resources.as_file(DATA / "orgs.csv") as orgs_csv:
            orgs = await import_orgs(app.repos, orgs_csv, now)
        with resources.as_file(DATA / "people.csv") as people_csv:
            people = await import_people(app.repos, people_csv, now)
        if orgs.errors or people.errors:  # the shipped files are tested; this means a bug
            raise click.ClickException(texts.get("cli.demo.not_clean"))
        click.echo(texts.get("cli.demo.loaded", url=url))
    click.echo(texts.get("cli.demo.orgs"))
    for org in await app.repos.orgs.all():
        click.echo(f"  {org.code:<8} {org.name}" + (f"（{org.theme}）" if org.theme else ""))
    with resources.as_file(DATA / "people.csv") as people_csv:
        lines = people_csv.read_text("utf-8").splitlines()[1:]
    click.echo(texts.get("cli.demo.people"))
    for line in lines:
        code, name, phone, role = line.split(",")
        pad = " " * max(1, 8 - sum(2 if ord(c) > 0x2E80 else 1 for c in name))
        click.echo(f"  {code:<8} {name}{pad}+86{phone}  {role}")
    click.echo(texts.get("cli.demo.try_member"))
    click.echo(texts.get("cli.demo.try_villager"))


async def _demo_present(app: App) -> bool:
    with resources.as_file(DATA / "orgs.csv") as orgs_csv:
        codes = [row["code"] for _, row in read_rows(orgs_csv, ORG_COLUMNS, ORG_REQUIRED)]
    for code in codes:
        if await app.repos.orgs.by_code(code) is None:
            return False
    return True


def pages(config: Config) -> list[tuple[str, str]]:
    """The pages [web] turns on, as (catalog key, path): what --serve prints."""
    on = [
        ("cli.demo.url_public", "/", config.web.public),
        ("cli.demo.url_sandbox", "/sandbox", config.sandbox_on),
        ("cli.demo.url_console", "/console", config.web.console),
    ]
    return [(key, path) for key, path, shown in on if shown]


def page_url(host: str, port: int, path: str) -> str:
    """A URL a browser on this machine can open: a wildcard address names every interface,
    so the loopback one stands for it."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"
