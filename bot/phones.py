"""Phone numbers in E.164, parsed with libphonenumber's rules (default country: China)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber


def to_e164(raw: str, region: str = "CN") -> str | None:
    """'138 0000 0001', '+86 138-0000-0001', '008613800000001' → '+8613800000001'."""
    text = raw.strip()
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.isascii() and text.isdigit():
        plain = _national_digits(text, region)
        if plain is not None:
            return plain or None
    return _parsed(text, region)


def _parsed(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _national_digits(digits: str, region: str) -> str | None:
    """A number typed as the region's national digits alone ('13800000001'), as roster
    files hold them, without phonenumbers.parse: a third of a roster import's time. parse
    would take these digits unchanged as the national number, because nothing in them is
    a prefix it strips; anything it might strip (a leading 0, the country code, an
    international or carrier prefix, a length it refuses) goes the long way (None). The
    validity check is the library's own. '' for a number that is not valid."""
    prefixes = _prefixes(region)
    if prefixes is None:
        return None
    code, stripped = prefixes
    if not 2 <= len(digits) <= 17 or digits[0] == "0" or digits.startswith(str(code)):
        return None
    if any(pattern.match(digits) for pattern in stripped):
        return None
    number = PhoneNumber(country_code=code, national_number=int(digits))
    return f"+{code}{digits}" if phonenumbers.is_valid_number(number) else ""


@lru_cache(maxsize=64)
def _prefixes(region: str) -> tuple[int, tuple[re.Pattern[str], ...]] | None:
    """The region's country code and the patterns of what parse strips from the front of
    a national number (international and national prefixes, carrier codes)."""
    metadata = PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or metadata.country_code is None:
        return None
    patterns = (metadata.international_prefix, metadata.national_prefix_for_parsing)
    return metadata.country_code, tuple(re.compile(p) for p in patterns if p)
