"""`grassroots inbound ...`: messages a handler failed on, listed and handled again."""

from __future__ import annotations

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.privacy import mask_phone


@main.group()
def inbound() -> None:
    """Messages people sent: look at the ones a handler failed on, and handle them again."""


@inbound.command("failed")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def inbound_failed(ctx: click.Context, limit: int) -> None:
    """List messages whose handling failed (their senders got an apology)."""
    config = config_of(ctx)

    async def work(app: App) -> list[dict[str, object]]:
        return await app.repos.inbound.failed(limit)

    rows = run(with_app(config, work))
    for row in rows:
        body = str(row["body"]).replace("\n", " ")
        click.echo(
            f"{row['id']}  {row['received_at']}  {row['channel']}  "
            f"{mask_phone(str(row['sender']))}  {row['handler']}  {row['error']}  "
            f"{body[:40]}"
        )
    click.echo(texts_of(ctx).get("cli.inbound.failed_count", count=len(rows)))


@inbound.command("retry")
@click.argument("message_id", type=int)
@click.pass_context
def inbound_retry(ctx: click.Context, message_id: int) -> None:
    """Handle a failed message again; its replies go out through the outbox."""
    config = config_of(ctx)

    async def work(app: App) -> bool:
        if not await app.repos.inbound.reopen(message_id):
            return False
        # This message alone: others still unhandled may be in a running worker's hands.
        await app.router.handle_recorded(message_id)
        return True

    texts = texts_of(ctx)
    if not run(with_app(config, work)):
        raise click.BadParameter(
            texts.get("cli.inbound.no_failed", id=message_id), param_hint="MESSAGE_ID"
        )
    click.echo(texts.get("cli.inbound.retried", id=message_id))
