"""One-time codes sent to a phone, as the console's sign-in and WeChat binding use them.

The rules live here once: a code is 6 digits, lives 10 minutes, is used once, burns after 5
wrong guesses (storage/console_codes.py counts and burns), and is stored only as an HMAC
under the deployment's secret, as is the number it was sent to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from datetime import timedelta

CODE_TTL = timedelta(minutes=10)
CODE_DIGITS = 6
MAX_TRIES = 5  # wrong guesses that burn a code


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def mac(secret: bytes, purpose: str, message: str) -> str:
    """HMAC-SHA256 of `message` under a key for `purpose` derived from the secret: a code
    made for one purpose never matches another's."""
    return hmac.new(f"{purpose}:".encode() + secret, message.encode(), hashlib.sha256).hexdigest()


def typed_code(text: str) -> str:
    """A code as people type it: full-width digits (６) and spaces allowed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def looks_like_code(text: str) -> bool:
    typed = typed_code(text)
    return len(typed) == CODE_DIGITS and typed.isascii() and typed.isdigit()
