"""`grassroots console ...`: the organisers' console from the server's shell."""

from __future__ import annotations

import click

from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.phones import to_e164


@main.group()
def console() -> None:
    """The organisers' web console (/console)."""


@console.command("revoke")
@click.argument("phone")
@click.pass_context
def console_revoke(ctx: click.Context, phone: str) -> None:
    """End every console session of the person holding PHONE at once."""
    from bot.web.console.signin import revoke

    texts = texts_of(ctx)
    number = to_e164(phone)
    if number is None:
        raise click.UsageError(texts.get("cli.console.bad_phone", phone=phone))
    done = run(with_app(config_of(ctx), lambda app: revoke(app, number)))
    if done is None:
        click.echo(texts.get("cli.console.unknown", phone=number), err=True)
        ctx.exit(1)
    name, count = done
    click.echo(texts.get("cli.console.revoked", name=name, count=count))
