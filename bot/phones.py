"""Phone numbers in E.164, parsed with libphonenumber's rules (default country: China)."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, region: str = "CN") -> str | None:
    """'138 0000 0001', '+86 138-0000-0001', '008613800000001' → '+8613800000001'."""
    text = raw.strip()
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
