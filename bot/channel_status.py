"""Why queued messages wait, per channel, in the operator's words (CLI and chat)."""

from __future__ import annotations

from datetime import datetime

from bot.app import App
from bot.config import Config
from bot.messages import AddressKind
from bot.texts import texts_for
from storage.outbox import Waiting

# The configuration section that turns each channel on.
SECTION = {AddressKind.SMS.value: "twilio", AddressKind.TELEGRAM.value: "telegram"}


def configured_kinds(config: Config) -> set[str]:
    """The address kinds a process with this configuration can send to."""
    kinds = set()
    if config.twilio.enabled:
        kinds.add(AddressKind.SMS.value)
    if config.telegram.enabled:
        kinds.add(AddressKind.TELEGRAM.value)
    return kinds


async def queued_since(app: App, since: datetime) -> list[str]:
    """What a `chat` session queued and why it waits: a header and a line per channel, or
    nothing if it queued nothing."""
    waiting = await app.repos.outbox.waiting_by_kind(since=since)
    if not waiting:
        return []
    texts = texts_for(app.config.bot.language)
    lines = waiting_lines(waiting, app.config, sent_by_serve=True)
    return [texts.get("channels.chat_queued"), *("  " + line for line in lines)]


def waiting_lines(
    waiting: dict[str, Waiting], config: Config, *, sent_by_serve: bool = False
) -> list[str]:
    """One line per channel with messages waiting: not configured here (they wait for a
    process that has it), or when the first may go (quiet hours, retries), or that `serve`
    sends them (`sent_by_serve`, for a process that never sends, such as chat)."""
    texts, zone, configured = texts_for(config.bot.language), config.zone, configured_kinds(config)
    lines = []
    for kind, w in sorted(waiting.items()):
        channel = texts.get(f"channels.name.{kind}")
        if kind not in configured:
            lines.append(
                texts.get(
                    "channels.waiting_unconfigured",
                    count=w.count,
                    channel=channel,
                    section=SECTION.get(kind, kind),
                )
            )
        elif sent_by_serve or w.first_due is None:
            lines.append(texts.get("channels.waiting_serve", count=w.count, channel=channel))
        else:
            first = f"{w.first_due.astimezone(zone):%Y-%m-%d %H:%M}"
            lines.append(
                texts.get("channels.waiting_due", count=w.count, channel=channel, first=first)
            )
    return lines
