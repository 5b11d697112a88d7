"""`grassroots serve`: the long-running service."""

from __future__ import annotations

import click

from bot.cli.base import config_of, main, opened, run, texts_of, with_app


@main.command()
@click.option("--host", default=None, help="Address to listen on (default from config).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from config).")
@click.option(
    "--telegram-polling",
    is_flag=True,
    default=None,
    help="Fetch Telegram updates by polling (no public URL needed) instead of the webhook.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Processes answering on the port (default from config; more than 1 needs PostgreSQL).",
)
@click.option(
    "--print-sms",
    is_flag=True,
    help="Without [twilio]: print SMS here and count them sent (demos; nobody receives them).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    telegram_polling: bool | None,
    workers: int | None,
    print_sms: bool,
) -> None:
    """Run the long-running service (ASGI: /healthz and the configured channels' webhooks)."""
    from bot import serving

    config = config_of(ctx)
    if telegram_polling and not config.telegram.enabled:
        raise click.UsageError("--telegram-polling needs [telegram] enabled = true")
    if print_sms and config.twilio.enabled:
        raise click.UsageError(texts_of(ctx).get("channels.print_sms_with_twilio"))
    workers = workers or config.server.workers
    if problem := serving.workers_problem(config, workers, telegram_polling):
        click.echo(problem, err=True)  # before the database is touched
        ctx.exit(serving.BAD_CONFIG)
    # Key and database problems: one line, before serving. The schema is upgraded here,
    # once, before any worker starts.
    run(with_app(config, opened))
    ctx.exit(
        serving.run(
            config,
            host=host,
            port=port,
            telegram_polling=telegram_polling,
            print_sms=print_sms,
            workers=workers,
        )
    )
