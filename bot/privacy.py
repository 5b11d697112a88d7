"""Masking of personal data before it reaches a log line."""

from __future__ import annotations

import re

_PHONE = re.compile(r"\+?\d[\d\- ]{6,}\d")


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
