"""Logging set-up: one line per record on stderr, phone numbers masked on the way out."""

from __future__ import annotations

import logging

from bot.privacy import mask_phones_in


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_phones_in(super().format(record))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic narrates every migration step at INFO; our own line says what matters.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
