"""Masking of personal data before it reaches a log line."""

from __future__ import annotations

import re

# A run of 9 to 15 digits, optionally after "+" (or "%2B" in a URL): mobile numbers and chat
# ids, but not timestamps, counts or message ids; and a Chinese mobile grouped as people
# write it ("138 0000 1101", "+86 138-0000-1101").
_PHONE = re.compile(
    r"(?<![\w+])(?:\+|%2[Bb])?\d{9,15}(?!\d)"
    r"|(?<![\w+])(?:\+\d{1,3}[ -]?)?1\d{2}[ -]\d{4}[ -]\d{4}(?!\d)"
)
_URL_PASSWORD = re.compile(r"(//[^:/@]+:)[^@/]+@")


def mask_phone(value: str) -> str:
    """Keep the country code area and the last four digits: +86138****0001."""
    digits = value.strip()
    if len(digits) <= 6:
        return "*" * len(digits)
    head = 6 if digits.startswith("+") else 3
    return digits[:head] + "*" * (len(digits) - head - 4) + digits[-4:]


def mask_phones_in(text: str) -> str:
    """Mask every phone-looking run in free text (exception messages, SQL errors)."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def without_password(url: str) -> str:
    """A database URL fit to print: postgresql://bot:secret@host/db → postgresql://bot:***@host/db."""
    return _URL_PASSWORD.sub(r"\1***@", url)
