"""The log as `grassroots` writes it, captured for a test: logging configured by the
service's own set-up, into a buffer, and restored afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

from bot.logs import setup_logging


class Logged:
    """What the service's own logging set-up wrote, line by line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def capture_logging() -> Iterator[Logged]:
    """Logging configured as `grassroots` configures it, into a buffer; restored after.
    For a fixture: `yield from capture_logging()`."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("alembic", "httpx", "httpcore")}
    stream = io.StringIO()
    setup_logging("INFO", stream)
    try:
        yield Logged(stream)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)
