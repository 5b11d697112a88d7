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
from bot.channel_status import queued_since, waiting_lines
from bot.config import Config, ConfigError, MissingSecretKey, load_config
from bot.logs import setup_logging
from bot.messages import Address, AddressKind
from bot.phones import to_e164
from bot.privacy import mask_phone, without_password
from bot.roster import ImportReport, RosterFileError, count_rows, import_orgs, import_people
from bot.segments import count_segments
from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, Texts, texts_for
from storage.engine import DatabaseUnavailable
from storage.models import Role
from storage.outbox import BroadcastStatus, Waiting

T = TypeVar("T")
PROGRESS_MIN_ROWS = 1000  # smaller files finish before a bar would be worth drawing


# Loggers that narrate every request at INFO: twilio logs each REST call's method, URL and
# headers. Our own dispatcher logs what matters about a send.
QUIET_LOGGERS = ("twilio",)


def _config(ctx: click.Context) -> Config:
    return ctx.obj["config"]


def _texts(ctx: click.Context) -> Texts:
    """The operator's language: --lang, else the deployment's [bot] language."""
    return ctx.find_root().obj["texts"]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _with_app(config: Config, work: Callable[[App], Awaitable[T]]) -> T:
    config.ensure_secret_key()  # before connecting: a missing key is the cheaper news
    try:
        app = await App.open(config)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        if _is_database_error(exc):
            raise DatabaseUnavailable("upgrade", detail=_first_line(exc)) from exc
        raise
    try:
        return await work(app)
    finally:
        await app.close()


async def _opened(app: App) -> None:
    """Nothing: opening the app (key, database, schema upgrade) was the check."""


def _is_database_error(exc: BaseException) -> bool:
    """An error the database server or driver raised (permissions, a read-only file...):
    the operator's to fix, not a bug."""
    module = type(exc).__module__
    return module.startswith(("asyncpg", "sqlalchemy", "sqlite3", "aiosqlite"))


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


class _Grassroots(click.Group):
    """Every expected operator error (configuration, database, unreadable file) ends the
    command with one line on stderr and a non-zero status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingSecretKey:
            click.echo(_texts_or_default(ctx).get("cli.error.secret_key"), err=True)
            ctx.exit(2)
        except ConfigError as exc:
            click.echo(_texts_or_default(ctx).get("cli.error.config", problem=exc), err=True)
            ctx.exit(2)
        except DatabaseUnavailable as exc:
            click.echo(_texts_or_default(ctx).get(f"cli.db.{exc.problem}", **exc.params), err=True)
            ctx.exit(2)
        except RosterFileError as exc:
            texts = _texts_or_default(ctx)
            click.echo(texts.get("cli.error.file", problem=exc.text(texts)), err=True)
            ctx.exit(2)


def _texts_or_default(ctx: click.Context) -> Texts:
    obj = ctx.find_root().obj or {}
    return obj.get("texts") or texts_for(obj.get("lang") or DEFAULT_LANGUAGE)


@click.group(cls=_Grassroots, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML configuration file (default: $GRASSROOTS_CONFIG, else built-in).",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Language of this command's output (default: the config's [bot] language).",
)
@click.pass_context
def main(ctx: click.Context, config_path: str | None, lang: str | None) -> None:
    """Grassroots participation bot: SMS and chat for the 创先争优 campaign."""
    ctx.obj = {"lang": lang}
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(texts_for(lang).get("cli.error.config", problem=exc), err=True)
        ctx.exit(2)
    setup_logging(config.log.level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.obj = {"config": config, "texts": texts_for(lang or config.bot.language), "lang": lang}


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema in place."""
    config, texts = _config(ctx), _texts(ctx)

    async def work(app: App) -> None:
        click.echo(texts.get("cli.migrate.done", dialect=app.repos.db.dialect))

    _run(_with_app(config, work))


def _print_report(texts: Texts, what: str, path: Path, report: ImportReport) -> None:
    for error in report.errors:
        click.echo(f"{path}:{error.line}: {error.text(texts)}", err=True)
    for note in report.notes:
        click.echo(f"{path}:{note.line}: {note.text(texts)}")
    revoked = texts.get("cli.import.revoked", count=report.revoked) if report.revoked else ""
    summary = texts.get(
        "cli.import.summary",
        what=texts.get(f"cli.import.{what}"),
        imported=report.imported,
        rejected=len(report.errors),
        rows=report.rows,
    )
    click.echo(summary + revoked)


def _import(
    ctx: click.Context,
    what: str,
    path: Path,
    importer: Callable[..., Awaitable[ImportReport]],
    **extra: object,
) -> None:
    config, texts = _config(ctx), _texts(ctx)
    total = count_rows(path)
    label = texts.get(f"cli.import.{what}")

    async def work(app: App) -> ImportReport:
        now = app.clock.now()
        if total < PROGRESS_MIN_ROWS:
            return await importer(app.repos, path, now, **extra)
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            return await importer(app.repos, path, now, progress=bar.update, **extra)

    report = _run(_with_app(config, work))  # an unreadable file: one line, from _Grassroots
    _print_report(texts, what, path, report)
    if report.errors:
        ctx.exit(1)


@main.command("import-orgs")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def import_orgs_command(ctx: click.Context, file: Path) -> None:
    """Import organisations from CSV: code,name,kind,parent_code,theme (or 组织代码,名称,...)."""
    _import(ctx, "orgs", file, import_orgs)


@main.command("import-people")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="The file is the whole roster of each organisation and role it lists: "
    "revoke those roles from anyone no longer listed (villagers who joined by SMS stay).",
)
@click.option(
    "--rename",
    is_flag=True,
    help="A phone the database knows under another name takes the file's name (without "
    "it, such rows are refused: one person is never silently turned into another).",
)
@click.pass_context
def import_people_command(ctx: click.Context, file: Path, replace: bool, rename: bool) -> None:
    """Import people from CSV: org_code,name,phone,role (or 组织代码,姓名,手机,角色)."""
    region = _config(ctx).bot.default_region
    _import(ctx, "people", file, import_people, region=region, replace=replace, rename=rename)


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Load the demo county: a county committee, two townships, four village branches."""
    config, texts = _config(ctx), _texts(ctx)
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
            click.echo(_texts(ctx).get("cli.chat.banner", phone=phone))
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
    print_sms: bool,
) -> None:
    """Run the long-running service (ASGI: /healthz and the configured channels' webhooks)."""
    from bot import serving

    config = _config(ctx)
    if telegram_polling and not config.telegram.enabled:
        raise click.UsageError("--telegram-polling needs [telegram] enabled = true")
    if print_sms and config.twilio.enabled:
        raise click.UsageError(_texts(ctx).get("channels.print_sms_with_twilio"))
    _run(_with_app(config, _opened))  # key and database problems: one line, before serving
    ctx.exit(
        serving.run(
            config, host=host, port=port, telegram_polling=telegram_polling, print_sms=print_sms
        )
    )


@main.group()
def telegram() -> None:
    """The Telegram bot's registration with Telegram."""


@telegram.command("set-webhook")
@click.pass_context
def telegram_set_webhook(ctx: click.Context) -> None:
    """Register <public_url>/telegram/webhook and the secret token with Telegram."""
    from bot.channels.telegram import ALLOWED_UPDATES, WEBHOOK_PATH, build_bot

    config, texts = _config(ctx), _texts(ctx)
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

    _run(register())
    click.echo(texts.get("cli.telegram.webhook_set", url=url))


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
    config, texts = _config(ctx), _texts(ctx)

    from bot.segments import SegmentCount
    from bot.texts import texts_for

    async def work(app: App) -> tuple[int, int, SegmentCount]:
        org = await app.repos.orgs.by_code(org_code)
        if org is None:
            raise click.BadParameter(
                texts.get("cli.broadcast.no_org", code=org_code), param_hint="--org"
            )
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
        texts.get(
            "cli.broadcast.queued", count=count, segments=cost.segments, encoding=cost.encoding
        )
    )
    click.echo(broadcast_id)


def _status_line(texts: Texts, status: BroadcastStatus, rate: float) -> str:
    waiting = status.counts.get("pending", 0) + status.counts.get("sending", 0)
    return texts.get(
        "cli.broadcast.status",
        id=status.id,
        kind=status.kind,
        total=status.total,
        sent=status.counts.get("sent", 0),
        delivered=status.counts.get("delivered", 0),
        failed=status.counts.get("failed", 0),
        waiting=waiting,
        duplicates=status.reclaims,
        eta=f"{waiting / rate:.0f}",
        rate=f"{rate:g}",
    )


@broadcast.command("status")
@click.argument("broadcast_id", type=int)
@click.option("--watch", is_flag=True, help="Follow with a progress bar until done.")
@click.pass_context
def broadcast_status(ctx: click.Context, broadcast_id: int, watch: bool) -> None:
    """Show sent, delivered, failed and waiting counts, and time to finish."""
    config, texts = _config(ctx), _texts(ctx)
    rate = config.outbox.rate.sms if config.twilio.enabled else config.outbox.rate.console

    async def work(app: App) -> tuple[BroadcastStatus, dict[str, Waiting]]:
        status = await app.repos.outbox.broadcast_status(broadcast_id)
        if status is None:
            raise click.BadParameter(
                texts.get("cli.broadcast.no_broadcast", id=broadcast_id),
                param_hint="BROADCAST_ID",
            )
        if watch and status.done < status.total:
            label = texts.get("cli.broadcast.label", id=broadcast_id)
            with click.progressbar(length=status.total, label=label, file=sys.stderr) as bar:
                bar.update(status.done)
                while status.done < status.total:
                    await asyncio.sleep(1)
                    fresh = await app.repos.outbox.broadcast_status(broadcast_id)
                    assert fresh is not None
                    bar.update(fresh.done - status.done)
                    status = fresh
        return status, await app.repos.outbox.waiting_by_kind(broadcast_id=broadcast_id)

    status, waiting = _run(_with_app(config, work))
    click.echo(_status_line(texts, status, rate))
    for line in waiting_lines(waiting, config):
        click.echo(line)


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
        click.echo("\n".join(exc.lines(_texts(ctx))), err=True)
        ctx.exit(1)
    texts = _texts(ctx)
    click.echo(
        texts.get(
            "cli.campaign.ok",
            source=loaded.source,
            phases=len(loaded.phases),
            milestones=len(loaded.milestones),
            start=loaded.start,
        )
    )
    for line in timeline(loaded, texts.language):
        click.echo(line)


@campaign.command("show")
@click.pass_context
def campaign_show(ctx: click.Context) -> None:
    """Which phase is current and what comes next, for the configured campaign."""
    from scheduler.campaign import CampaignError, current_phase, load_campaign, upcoming

    config, texts = _config(ctx), _texts(ctx)
    language = texts.language
    try:
        loaded = load_campaign(
            config.scheduler.campaign or None, start=config.scheduler.campaign_start
        )
    except CampaignError as exc:
        click.echo("\n".join(exc.lines(texts)), err=True)
        ctx.exit(1)
    now = datetime.now(UTC)
    phase = current_phase(loaded, now)
    click.echo(
        texts.get(
            "cli.campaign.title", name=loaded.name[language], id=loaded.id, start=loaded.start
        )
    )
    if phase is None:
        click.echo(texts.get("cli.campaign.no_phase"))
    else:
        end = phase.end.isoformat() if phase.end else texts.get("cli.campaign.open_end")
        click.echo(
            texts.get("cli.campaign.phase", name=phase.name[language], start=phase.start, end=end)
        )
    coming = upcoming(loaded, now)
    if not coming:
        click.echo(texts.get("cli.campaign.nothing_next"))
    for milestone in coming:
        at = f"{milestone.at:%Y-%m-%d %H:%M}"
        click.echo(
            texts.get("cli.campaign.next", at=at, id=milestone.id, text=milestone.text[language])
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
    click.echo(_texts(ctx).get("cli.inbound.failed_count", count=len(rows)))


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

    texts = _texts(ctx)
    if not _run(_with_app(config, work)):
        raise click.BadParameter(
            texts.get("cli.inbound.no_failed", id=message_id), param_hint="MESSAGE_ID"
        )
    click.echo(texts.get("cli.inbound.retried", id=message_id))


# Subcommand groups kept in their own modules; imported last, as they use the helpers above.
from bot.cli_polls import poll  # noqa: E402

main.add_command(poll)
