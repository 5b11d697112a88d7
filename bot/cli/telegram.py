"""`grassroots telegram ...`: the bot's registration with Telegram."""

from __future__ import annotations

import click

from bot.cli.base import config_of, main, run, texts_of


@main.group()
def telegram() -> None:
    """The Telegram bot's registration with Telegram."""


@telegram.command("set-webhook")
@click.pass_context
def telegram_set_webhook(ctx: click.Context) -> None:
    """Register <public_url>/telegram/webhook and the secret token with Telegram."""
    from bot.channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH, build_bot

    config, texts = config_of(ctx), texts_of(ctx)
    token = config.telegram_token
    if not config.telegram.enabled or not token:
        raise click.UsageError(texts.get("cli.telegram.needs_token"))
    if not config.telegram.public_url or not config.telegram_secret:
        raise click.UsageError(texts.get("cli.telegram.needs_url"))
    url = config.telegram.public_url + WEBHOOK_PATH

    async def register() -> None:
        async with build_bot(config.telegram, token) as bot:
            await bot.set_webhook(
                url, secret_token=config.telegram_secret, allowed_updates=ALLOWED_UPDATES
            )

    run(register())
    click.echo(texts.get("cli.telegram.webhook_set", url=url))
