"""The `grassroots` command (also `python -m bot`): one configuration for every subcommand."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.app import App
from bot.config import Config, ConfigError, load_config
from bot.logs import setup_logging
from bot.messages import Address, AddressKind
from bot.phones import to_e164
from bot.privacy import mask_phone, without_password
from bot.roster import ImportReport, RosterFileError, count_rows, import_orgs, import_people
from bot.segments import count_segments
from storage.models import Role
from storage.outbox import BroadcastStatus

T = TypeVar("T")
PROGRESS_MIN_ROWS = 1000  # smaller files finish before a bar would be worth drawing


def _config(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _with_app(config: Config, work: Callable[[App], Awaitable[T]]) -> T:
    app = await App.open(config)
    try:
        return await work(app)
    finally:
        await app.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML configuration file (default: $GRASSROOTS_CONFIG, else built-in).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Grassroots participation bot: SMS and chat for the 创先争优 campaign."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"config error: {exc}", err=True)
        ctx.exit(2)
    setup_logging(config.log.level)
    ctx.obj = {"config": config}


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema in place."""
    config = _config(ctx)

    async def work(app: App) -> None:
        click.echo(f"database at schema head ({app.repos.db.dialect})")

    _run(_with_app(config, work))


def _print_report(what: str, path: Path, report: ImportReport) -> None:
    for error in report.errors:
        click.echo(f"{path}:{error.line}: {error.reason}", err=True)
    revoked = f", {report.revoked} roles no longer listed revoked" if report.revoked else ""
    click.echo(
        f"{what}: {report.imported} imported, {len(report.errors)} rejected of {report.rows} rows"
        f"{revoked}"
    )


def _import(
    ctx: click.Context,
    what: str,
    path: Path,
    importer: Callable[..., Awaitable[ImportReport]],
    **extra: object,
) -> None:
    config = _config(ctx)
    total = count_rows(path)

    async def work(app: App) -> ImportReport:
        now = app.clock.now()
        if total < PROGRESS_MIN_ROWS:
            return await importer(app.repos, path, now, **extra)
        with click.progressbar(length=total, label=what, file=sys.stderr) as bar:
            return await importer(app.repos, path, now, progress=bar.update, **extra)

    try:
        report = _run(_with_app(config, work))
    except RosterFileError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    _print_report(what, path, report)
    if report.errors:
        ctx.exit(1)


@main.command("import-orgs")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def import_orgs_command(ctx: click.Context, file: Path) -> None:
    """Import organisations from CSV: code,name,kind,parent_code,theme (or 组织代码,名称,...)."""
    _import(ctx, "organisations", file, import_orgs)


@main.command("import-people")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="The file is the whole roster of each organisation and role it lists: "
    "revoke those roles from anyone no longer listed (villagers who joined by SMS stay).",
)
@click.pass_context
def import_people_command(ctx: click.Context, file: Path, replace: bool) -> None:
    """Import people from CSV: org_code,name,phone,role (or 组织代码,姓名,手机,角色)."""
    region = _config(ctx).bot.default_region
    _import(ctx, "people", file, import_people, region=region, replace=replace)


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Load the demo county: a county committee, two townships, four village branches."""
    config = _config(ctx)
    data = resources.files("bot") / "demo"

    async def work(app: App) -> None:
        now = app.clock.now()
        with resources.as_file(data / "orgs.csv") as orgs_csv:
            orgs = await import_orgs(app.repos, orgs_csv, now)
        with resources.as_file(data / "people.csv") as people_csv:
            people = await import_people(app.repos, people_csv, now)
        if orgs.errors or people.errors:  # the shipped files are tested; this means a bug
            raise click.ClickException("demo data did not import cleanly")
        click.echo(f"Demo county loaded into {without_password(config.storage.url)}")
        click.echo("Organisations:")
        for org in await app.repos.orgs.all():
            click.echo(f"  {org.code:<8} {org.name}" + (f"（{org.theme}）" if org.theme else ""))
        with resources.as_file(data / "people.csv") as people_csv:
            lines = people_csv.read_text("utf-8").splitlines()[1:]
        click.echo("People (code, name, phone, role):")
        for line in lines:
            code, name, phone, role = line.split(",")
            pad = " " * max(1, 8 - sum(2 if ord(c) > 0x2E80 else 1 for c in name))
            click.echo(f"  {code:<8} {name}{pad}+86{phone}  {role}")
        click.echo("Try: grassroots chat --from +8613800001101   (a member of HX0101)")
        click.echo("     grassroots chat --from +8613912345678   (a villager: 加入 HX0101)")

    _run(_with_app(config, work))


@main.command()
@click.option("--from", "sender", required=True, help="The phone number to speak as.")
@click.pass_context
def chat(ctx: click.Context, sender: str) -> None:
    """Talk to the bot from this terminal (or a pipe) as the phone number --from."""
    from bot.channels.console import run_console
    from scheduler.jobs import JobContext
    from scheduler.sweeps import before_each_message

    config = _config(ctx)
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
            click.echo(f"Speaking as {phone}. Ctrl-D to quit.")
        sender = Address(AddressKind.SMS, phone)
        speak = prompt if interactive else None
        dispatcher = app.dispatcher()
        # What serve's scheduler sweeps would have done by now, done before each message.
        jobs = JobContext(app.repos, config.zone, config.bot.language, dispatcher.poke)
        due = before_each_message(jobs, app.clock) if config.scheduler.enabled else None
        if not app.sandbox:  # with a real provider, sending is serve's job, not a terminal's
            await run_console(app.router, sender, app.clock, prompt=speak, before=due)
            return
        # In the sandbox, broadcasts (a secretary's 通知) show up here as they are "sent".
        stop = asyncio.Event()
        sending = asyncio.create_task(dispatcher.run(stop))
        try:
            await run_console(app.router, sender, app.clock, prompt=speak, before=due)
            await dispatcher.drain_once()
        finally:
            stop.set()
            await sending

    _run(_with_app(config, work))


@main.command()
@click.option("--host", default=None, help="Address to listen on (default from config).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from config).")
@click.option(
    "--telegram-polling",
    is_flag=True,
    default=None,
    help="Fetch Telegram updates by polling (no public URL needed) instead of the webhook.",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, telegram_polling: bool | None
) -> None:
    """Run the long-running service (ASGI: /healthz and the configured channels' webhooks)."""
    import uvicorn

    from bot.web import create_web_app

    config = _config(ctx)
    if telegram_polling and not config.telegram.enabled:
        raise click.UsageError("--telegram-polling needs [telegram] enabled = true")
    uvicorn.run(
        create_web_app(config, telegram_polling=telegram_polling),
        host=host if host is not None else config.server.host,
        port=port if port is not None else config.server.port,
        log_level=config.log.level.lower(),
        log_config=None,  # keep our masking log handler
    )


@main.group()
def telegram() -> None:
    """The Telegram bot's registration with Telegram."""


@telegram.command("set-webhook")
@click.pass_context
def telegram_set_webhook(ctx: click.Context) -> None:
    """Register <public_url>/telegram/webhook and the secret token with Telegram."""
    from bot.channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH, build_bot

    config = _config(ctx)
    token = config.telegram_token
    if not config.telegram.enabled or not token:
        raise click.UsageError("[telegram] enabled = true and TELEGRAM_BOT_TOKEN are needed")
    if not config.telegram.public_url or not config.telegram_secret:
        raise click.UsageError("telegram.public_url and TELEGRAM_WEBHOOK_SECRET are needed")
    url = config.telegram.public_url + WEBHOOK_PATH

    async def register() -> None:
        async with build_bot(config.telegram, token) as bot:
            await bot.set_webhook(
                url, secret_token=config.telegram_secret, allowed_updates=ALLOWED_UPDATES
            )

    _run(register())
    click.echo(f"webhook set: {url}")


@main.group()
def broadcast() -> None:
    """Send a notice to everyone with a role in an organisation's subtree, and follow it."""


@broadcast.command("send")
@click.option("--org", "org_code", required=True, help="Organisation code (its subtree).")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice([r.value for r in Role]),
    help="Role to reach (repeatable).",
)
@click.option("--text", required=True, help="The message (in Chinese, for everyone).")
@click.option("--text-en", default=None, help="The English version, for English speakers.")
@click.option("--urgent", is_flag=True, help="Send SMS during quiet hours too.")
@click.pass_context
def broadcast_send(
    ctx: click.Context,
    org_code: str,
    roles: tuple[str, ...],
    text: str,
    text_en: str | None,
    urgent: bool,
) -> None:
    """Queue a broadcast; prints its id alone on the last line."""
    config = _config(ctx)

    from bot.segments import SegmentCount
    from bot.texts import texts_for

    async def work(app: App) -> tuple[int, int, SegmentCount]:
        org = await app.repos.orgs.by_code(org_code)
        if org is None:
            raise click.BadParameter(f"no organisation {org_code}", param_hint="--org")
        now = app.clock.now()
        # Signed with the organisation's name, as a secretary's 通知 is: villagers see who speaks.
        given = {"zh-CN": text, "en": text_en or text}
        signed = {
            lang: texts_for(lang).get("broadcast.signed", org=org.name, text=body)
            for lang, body in given.items()
        }
        made = await app.repos.outbox.broadcast_to_audience(
            kind="broadcast",
            texts=signed,
            default_language=config.bot.language,
            now=now,
            root_org_id=org.id,
            roles=[Role(r) for r in roles],
            source=None,  # each call of the command is a new broadcast
            body=text,
            role=",".join(roles),
            urgent=urgent,
        )
        return (*made, count_segments(signed[config.bot.language]))

    broadcast_id, count, cost = _run(_with_app(config, work))
    click.echo(
        f"queued for {count} people, {cost.segments} SMS segment(s) each "
        f"({cost.encoding}); `grassroots serve` sends it"
    )
    click.echo(broadcast_id)


def _status_line(status: BroadcastStatus, rate: float) -> str:
    waiting = status.counts.get("pending", 0) + status.counts.get("sending", 0)
    eta = waiting / rate
    return (
        f"broadcast {status.id} ({status.kind}): {status.total} recipients; "
        f"sent {status.counts.get('sent', 0)}, delivered {status.counts.get('delivered', 0)}, "
        f"failed {status.counts.get('failed', 0)}, waiting {waiting}; "
        f"possible duplicates {status.reclaims}; about {eta:.0f} s to go at {rate:g}/s"
    )


@broadcast.command("status")
@click.argument("broadcast_id", type=int)
@click.option("--watch", is_flag=True, help="Follow with a progress bar until done.")
@click.pass_context
def broadcast_status(ctx: click.Context, broadcast_id: int, watch: bool) -> None:
    """Show sent, delivered, failed and waiting counts, and time to finish."""
    config = _config(ctx)
    rate = config.outbox.rate.sms if config.twilio.enabled else config.outbox.rate.console

    async def work(app: App) -> BroadcastStatus:
        status = await app.repos.outbox.broadcast_status(broadcast_id)
        if status is None:
            raise click.BadParameter(f"no broadcast {broadcast_id}", param_hint="BROADCAST_ID")
        if watch and status.done < status.total:
            with click.progressbar(
                length=status.total, label=f"broadcast {broadcast_id}", file=sys.stderr
            ) as bar:
                bar.update(status.done)
                while status.done < status.total:
                    await asyncio.sleep(1)
                    fresh = await app.repos.outbox.broadcast_status(broadcast_id)
                    assert fresh is not None
                    bar.update(fresh.done - status.done)
                    status = fresh
        return status

    click.echo(_status_line(_run(_with_app(config, work)), rate))


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
        click.echo(str(exc), err=True)
        ctx.exit(1)
    click.echo(
        f"{loaded.source}: ok, {len(loaded.phases)} phases, "
        f"{len(loaded.milestones)} milestones, starting {loaded.start}"
    )
    for line in timeline(loaded, _config(ctx).bot.language):
        click.echo(line)


@campaign.command("show")
@click.pass_context
def campaign_show(ctx: click.Context) -> None:
    """Which phase is current and what comes next, for the configured campaign."""
    from scheduler.campaign import CampaignError, current_phase, load_campaign, upcoming

    config = _config(ctx)
    language = config.bot.language
    try:
        loaded = load_campaign(
            config.scheduler.campaign or None, start=config.scheduler.campaign_start
        )
    except CampaignError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(1)
    now = datetime.now(UTC)
    phase = current_phase(loaded, now)
    click.echo(f"{loaded.name[language]} ({loaded.id}), from {loaded.start}")
    if phase is None:
        click.echo("current phase: none (between phases, or before or after the campaign)")
    else:
        end = phase.end.isoformat() if phase.end else "open"
        click.echo(f"current phase: {phase.name[language]} ({phase.start} – {end})")
    coming = upcoming(loaded, now)
    if not coming:
        click.echo("next: nothing; every milestone has passed")
    for milestone in coming:
        click.echo(
            f"next: {milestone.at:%Y-%m-%d %H:%M} {milestone.id}: {milestone.text[language]}"
        )


@main.group()
def inbound() -> None:
    """Messages people sent: look at the ones a handler failed on, and handle them again."""


@inbound.command("failed")
@click.option("--limit", default=50, show_default=True)
@click.pass_context
def inbound_failed(ctx: click.Context, limit: int) -> None:
    """List messages whose handling failed (their senders got an apology)."""
    config = _config(ctx)

    async def work(app: App) -> list[dict[str, object]]:
        return await app.repos.inbound.failed(limit)

    rows = _run(_with_app(config, work))
    for row in rows:
        body = str(row["body"]).replace("\n", " ")
        click.echo(
            f"{row['id']}  {row['received_at']}  {row['channel']}  "
            f"{mask_phone(str(row['sender']))}  {row['handler']}  {row['error']}  "
            f"{body[:40]}"
        )
    click.echo(f"{len(rows)} failed message(s)")


@inbound.command("retry")
@click.argument("message_id", type=int)
@click.pass_context
def inbound_retry(ctx: click.Context, message_id: int) -> None:
    """Handle a failed message again; its replies go out through the outbox."""
    config = _config(ctx)

    async def work(app: App) -> bool:
        if not await app.repos.inbound.reopen(message_id):
            return False
        await app.router.recover()
        return True

    if not _run(_with_app(config, work)):
        raise click.BadParameter(f"no failed message {message_id}", param_hint="MESSAGE_ID")
    click.echo(f"message {message_id} handled again; replies queued (`grassroots serve` sends)")


# Subcommand groups kept in their own modules; imported last, as they use the helpers above.
from bot.cli_polls import poll  # noqa: E402

main.add_command(poll)
