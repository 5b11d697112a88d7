"""`grassroots chat`: the bot in this terminal, as one phone number."""

from __future__ import annotations

import logging
import sys

import click

from bot.app import App
from bot.channel_status import queued_since
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.messages import Address, AddressKind
from bot.phones import to_e164


@main.command()
@click.option("--from", "sender", required=True, help="The phone number to speak as.")
@click.pass_context
def chat(ctx: click.Context, sender: str) -> None:
    """Talk to the bot from this terminal (or a pipe) as the phone number --from."""
    from bot.channels.console import run_console
    from scheduler.jobs import JobContext
    from scheduler.sweeps import before_each_message

    config = config_of(ctx)
    phone = to_e164(sender, config.bot.default_region)
    if phone is None:
        raise click.BadParameter(f"not a valid phone number: {sender}", param_hint="--from")
    if config.log.level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
    interactive = sys.stdin.isatty()

    def prompt() -> None:
        click.echo("> ", nl=False)

    async def work(app: App) -> None:
        if interactive:
            click.echo(texts_of(ctx).get("cli.chat.banner", phone=phone))
        sender = Address(AddressKind.SMS, phone)
        speak = prompt if interactive else None
        # What serve's scheduler sweeps would have done by now, done before each message.
        jobs = JobContext(app.repos, config.zone, config.bot.language)
        due = before_each_message(jobs, app.clock) if config.scheduler.enabled else None
        # The terminal shows the replies to this number and sends nothing else: what the
        # conversation queued (a 通知, a poll) waits in the outbox for `serve`.
        started = app.clock.now()
        await run_console(app.router, sender, app.clock, prompt=speak, before=due)
        for line in await queued_since(app, started):
            click.echo(line, err=True)

    run(with_app(config, work))
