"""Logging set-up: one line per record on stderr, phone numbers masked on the way out."""

from __future__ import annotations

import logging
import re

from bot.privacy import mask_phones_in

# A Telegram bot token in a URL or message: /bot123456:ABC-def... → /bot<token>.
_BOT_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _BOT_TOKEN.sub("<token>", mask_phones_in(super().format(record)))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic narrates every migration step at INFO; our own line says what matters. httpx
    # logs each request's URL at INFO, and a Bot API URL holds the bot's token.
    for noisy in ("alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
