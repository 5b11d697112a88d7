"""The `grassroots` group itself and what every command shares: the configuration and
language from the context, one event loop per command, an opened App, and operator errors
reported as one line instead of a traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import click

from bot.app import App
from bot.config import Config, ConfigError, MissingSecretKey, load_config
from bot.logs import setup_logging
from bot.roster import RosterFileError
from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, Texts, texts_for
from storage.engine import DatabaseUnavailable

T = TypeVar("T")

# Loggers that narrate every request at INFO: twilio logs each REST call's method, URL and
# headers. Our own dispatcher logs what matters about a send. APScheduler's executor logs
# each run of each job, and every worker renews the scheduler's lease every 10 s.
QUIET_LOGGERS = ("twilio", "apscheduler.executors")


def config_of(ctx: click.Context) -> Config:
    return ctx.find_root().obj["config"]


def texts_of(ctx: click.Context) -> Texts:
    """The operator's language: --lang, else the deployment's [bot] language."""
    return ctx.find_root().obj["texts"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def with_app(config: Config, work: Callable[[App], Awaitable[T]]) -> T:
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


async def opened(app: App) -> None:
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
