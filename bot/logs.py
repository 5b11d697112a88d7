"""Logging set-up: one record per line on stderr, with what a request carried made harmless.

Every record passes one formatter, so no call site can forget: control characters in the
message and in exception messages are escaped (a newline in a form key cannot start a forged
line), then secrets are masked (bot tokens before phone numbers: masking the digits of a
token's bot id first would hide the token from its own pattern), then phone numbers.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import TextIO

from bot.privacy import mask_phones_in

# A Telegram bot token, alone, in a URL (/bot123456789:AAE.../getMe) or URL-encoded (%3A).
_BOT_TOKEN = re.compile(r"(?<!\d)\d{5,15}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# C0 and C1 controls, DEL, line and paragraph separators, and the bidi overrides that make a
# line read differently from what it holds.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Secrets this process was given (tokens, auth tokens): masked wherever they appear whole.
_secrets: set[str] = set()


def escape_controls(text: str) -> str:
    """'a\\nb\\x1b[31m' → 'a\\\\nb\\\\x1b[31m': shown, never acted on by a terminal or a parser."""
    return _UNSAFE.sub(lambda m: _NAMED.get(m.group(0)) or _code(m.group(0)), text)


def _code(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def add_secrets(*values: str | None) -> None:
    """Mask these exact strings in every later log line (at least 8 characters each, so a
    short value cannot blank out ordinary words)."""
    _secrets.update(v for v in values if v and len(v) >= 8)


def mask_secrets(text: str) -> str:
    """Tokens first, then phone numbers (see the module's note on the order)."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "<secret>")
    return mask_phones_in(_BOT_TOKEN.sub("<token>", text))


def _exception_lines(exc: BaseException) -> Iterator[str]:
    """A traceback as Python prints it, with each exception's message escaped: the frames are
    the code's, the message may hold what a request carried."""
    te = traceback.TracebackException.from_exception(exc)
    yield from _chain(te, set())


def _chain(te: traceback.TracebackException, seen: set[int]) -> Iterator[str]:
    seen.add(id(te))
    if te.__cause__ is not None and id(te.__cause__) not in seen:
        yield from _chain(te.__cause__, seen)
        yield "\nThe above exception was the direct cause of the following exception:\n\n"
    elif (
        te.__context__ is not None
        and not te.__suppress_context__
        and id(te.__context__) not in seen
    ):
        yield from _chain(te.__context__, seen)
        yield "\nDuring handling of the above exception, another exception occurred:\n\n"
    if te.stack:
        yield "Traceback (most recent call last):\n"
        yield from te.stack.format()
    for line in te.format_exception_only():
        yield escape_controls(line.removesuffix("\n")) + "\n"


class SafeFormatter(logging.Formatter):
    """Escapes what a record carries and masks secrets and phone numbers."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:
        exc = ei[1] if isinstance(ei, tuple) else None
        if not isinstance(exc, BaseException) or isinstance(exc, BaseExceptionGroup):
            # Not worth a structure of its own: the whole text on one escaped line.
            return escape_controls(super().formatException(ei))  # type: ignore[arg-type]
        return "".join(_exception_lines(exc)).removesuffix("\n")

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(escape_controls(line) for line in stack_info.split("\n"))

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic narrates every migration step at INFO; our own line says what matters. httpx
    # logs each request's URL at INFO, and a Bot API URL holds the bot's token.
    quiet: Iterable[str] = ("alembic", "httpx", "httpcore")
    for noisy in quiet:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
