"""Input normalisation and the mapping back to what the person wrote."""

from __future__ import annotations

import pytest

from bot.normalize import clean, normalize
from bot.phones import to_e164
from bot.privacy import mask_phone, mask_phones_in


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＨＢ １", "hb 1"),
        ("  Help\n", "help"),
        ("汇\x00报\u200b", "汇报"),  # NUL and zero-width space dropped
        ("", ""),
        ("\t \u3000", ""),  # an ideographic space is whitespace after NFKC
        ("ＳＴＯＰ", "stop"),
    ],
)
def test_folding(raw, folded):
    assert normalize(raw).folded == folded


def test_original_text_is_kept_after_the_keyword():
    text = normalize("ＨＢ，今天帮五保户挑水。")
    assert text.folded.startswith("hb,")
    assert text.original_from(3) == "今天帮五保户挑水。"  # full-width punctuation kept
    assert text.original_from(99) == ""


def test_words_versus_emoji():
    assert not normalize("😀🎉👍").has_words
    assert normalize("😀 好").has_words


def test_clean_drops_controls_but_keeps_lines():
    assert clean(" a\x1b[31mb\nc\x07 ") == "a[31mb\nc"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800001101", "+8613800001101"),
        ("138 0000 1101", "+8613800001101"),
        ("+86-138-0000-1101", "+8613800001101"),
        ("008613800001101", "+8613800001101"),
        ("+1 415 555 2671", "+14155552671"),
        ("12345", None),
        ("not a phone", None),
        ("", None),
    ],
)
def test_phone_numbers(raw, e164):
    assert to_e164(raw) == e164


def test_phone_masking():
    assert mask_phone("+8613800001101") == "+86138****1101"
    line = "2026-11-27 01:29:18 message 42 from +8613800001101 (chat 123456789)"
    masked = mask_phones_in(line)
    assert "13800001101" not in masked and "123456789" not in masked
    assert masked.startswith("2026-11-27 01:29:18 message 42 from +86138****1101")


@pytest.mark.parametrize(
    "line",
    [
        "To=%2B8613800001101&Body=x",
        "call 138 0000 1101 please",
        "from +86 138-0000-1101",
        "from +8613800001101",
    ],
)
def test_phone_masking_in_the_forms_numbers_take(line):
    masked = mask_phones_in(line)
    assert "0000" not in masked and masked.endswith(line[-12:].split("1101")[-1])
    assert "1101" in masked  # the last four digits stay, to tell people apart


def test_database_urls_print_without_password():
    from bot.privacy import without_password

    assert without_password("postgresql+asyncpg://bot:s3cr:et@db:5432/x") == (
        "postgresql+asyncpg://bot:***@db:5432/x"
    )
    assert without_password("sqlite+aiosqlite:///./data/g.db") == "sqlite+aiosqlite:///./data/g.db"
