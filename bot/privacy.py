"""Masking of personal data before it reaches a log line."""

from __future__ import annotations

import re

# A run of 9 to 15 digits, optionally after "+": mobile numbers and chat ids, but not
# timestamps, counts or message ids.
_PHONE = re.compile(r"(?<![\w+])\+?\d{9,15}(?!\d)")


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
