"""Why queued messages wait, per channel, in the operator's words (CLI and chat)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.app import App
from bot.config import Config
from bot.messages import AddressKind
from bot.texts import texts_for
from storage.outbox import Waiting

# The configuration section that turns each channel on.
SECTION = {
    AddressKind.SMS.value: "twilio",
    AddressKind.TELEGRAM.value: "telegram",
    AddressKind.WECHAT.value: "wechat",
}


def configured_kinds(config: Config) -> set[str]:
    """The address kinds a process with this configuration can send to."""
    kinds = set()
    if config.twilio.enabled:
        kinds.add(AddressKind.SMS.value)
    if config.telegram.enabled:
        kinds.add(AddressKind.TELEGRAM.value)
    if config.wechat.enabled:
        kinds.add(AddressKind.WECHAT.value)
    return kinds


def send_rate(kind: str, config: Config) -> float:
    """Messages per second `serve` sends to an address kind: SMS at the provider's rate, or
    at the console sandbox's when no provider is configured; Telegram at its own."""
    rate = config.outbox.rate
    if kind == AddressKind.TELEGRAM.value:
        return rate.telegram
    if kind == AddressKind.WECHAT.value:
        return rate.wechat
    return rate.sms if config.twilio.enabled else rate.console


def seconds_to_finish(waiting: Mapping[str, Waiting], config: Config) -> float:
    """How long the waiting messages take at the configured rates, the channels sending
    side by side (so the slowest decides). Kinds this configuration cannot send are left
    out: they wait for another process. Quiet hours and retries are not counted."""
    kinds = configured_kinds(config)
    return max(
        (w.count / send_rate(k, config) for k, w in waiting.items() if k in kinds), default=0.0
    )


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
