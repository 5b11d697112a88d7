"""`grassroots broadcast ...`: queue a notice to a subtree's roles, and follow its sending."""

from __future__ import annotations

import asyncio
import sys

import click

from bot.app import App
from bot.channel_status import waiting_lines
from bot.cli.base import config_of, main, run, texts_of, with_app
from bot.fallback import limit_lines
from bot.segments import SegmentCount, count_segments
from bot.texts import Texts, texts_for
from storage import platform_limits
from storage.models import Role
from storage.outbox import BroadcastStatus, Waiting
from storage.platform_limits import LimitCount


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
    config, texts = config_of(ctx), texts_of(ctx)

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

    broadcast_id, count, cost = run(with_app(config, work))
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
    config, texts = config_of(ctx), texts_of(ctx)
    rate = config.outbox.rate.sms if config.twilio.enabled else config.outbox.rate.console

    async def work(app: App) -> tuple[BroadcastStatus, dict[str, Waiting], list[LimitCount]]:
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
        limits = await platform_limits.for_broadcast(app.repos.db, broadcast_id)
        return status, await app.repos.outbox.waiting_by_kind(broadcast_id=broadcast_id), limits

    status, waiting, limits = run(with_app(config, work))
    click.echo(_status_line(texts, status, rate))
    for line in limit_lines(texts, limits):  # why chat recipients were not reached
        click.echo(line)
    for line in waiting_lines(waiting, config):
        click.echo(line)
