"""The roster's phone numbers (bot/phones.py): national digits take a short way past
phonenumbers.parse, and must come out exactly as the library's own parse would give them."""

from __future__ import annotations

import random

import pytest

from bot import phones
from bot.phones import to_e164


def _shapes(rng: random.Random) -> list[str]:
    """Digit strings of every length and leading digits: mobiles, landlines, the prefixes
    parse strips (0, 00, 86, 1[12]xx and 179xx carrier codes), too short, too long."""
    heads = ["1", "13", "14", "15", "16", "17", "179", "11", "12", "18", "19", "10", "2", "21"]
    heads += ["0", "00", "86", "8", "4", "400", "800", "9", "95", "6", "5", "3", "7"]
    texts = []
    for _ in range(6000):
        head = rng.choice(heads)
        tail = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 16)))
        texts.append(head + tail)
    return texts


@pytest.mark.parametrize("region", ["CN", "US", "GB", "HK", "DE"])
def test_national_digits_as_the_library_parses_them(region: str) -> None:
    rng = random.Random(region)
    texts = _shapes(rng) + [
        f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" for _ in range(3000)
    ]
    short_way = 0
    for text in texts:
        expected = phones._parsed("+" + text[2:] if text.startswith("00") else text, region)
        assert to_e164(text, region) == expected, (region, text)
        short_way += phones._national_digits(text, region) is not None
    assert short_way > len(texts) // 4  # the short way is taken, not only the long one


def test_formatted_and_international_numbers_the_long_way() -> None:
    assert to_e164(" 138 0000 1101 ") == "+8613800001101"
    assert to_e164("+86-138-0000-1101") == "+8613800001101"
    assert to_e164("008613800001101") == "+8613800001101"
    assert to_e164("8613800001101") == "+8613800001101"
    assert to_e164("13800001101") == "+8613800001101"
    assert to_e164("1380000110") is None  # a digit short
    assert to_e164("14000001101") is None  # no such mobile range
    assert to_e164("2025550123", "US") == "+12025550123"
    assert to_e164("13800001101", "XX") is None  # no such region: the library says so
