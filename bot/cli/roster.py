"""`grassroots import-orgs` and `import-people`: the roster from CSV files, with a report of
every rejected row."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from bot.app import App
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.roster import ImportReport, count_rows, import_orgs, import_people
from bot.texts import Texts

PROGRESS_MIN_ROWS = 1000  # smaller files finish before a bar would be worth drawing


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
    config, texts = config_of(ctx), texts_of(ctx)
    total = count_rows(path)
    label = texts.get(f"cli.import.{what}")

    async def work(app: App) -> ImportReport:
        now = app.clock.now()
        if total < PROGRESS_MIN_ROWS:
            return await importer(app.repos, path, now, **extra)
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            return await importer(app.repos, path, now, progress=bar.update, **extra)

    report = run(with_app(config, work))  # an unreadable file: one line, from _Grassroots
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
    region = config_of(ctx).bot.default_region
    _import(ctx, "people", file, import_people, region=region, replace=replace, rename=rename)
