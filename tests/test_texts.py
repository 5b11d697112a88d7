"""The text catalogs: parity between languages, and SMS budgets for the texts that matter."""

from __future__ import annotations

import string

import pytest

from bot.segments import count_segments
from bot.texts import LANGUAGES, Texts, catalog


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_exists_in_every_language():
    keys = {language: set(catalog(language)) for language in LANGUAGES}
    reference = keys[LANGUAGES[0]]
    for language, found in keys.items():
        assert found == reference, (language, found ^ reference)


@pytest.mark.parametrize("key", sorted(catalog("zh-CN")))
def test_placeholders_match_across_languages(key):
    expected = placeholders(catalog("zh-CN")[key])
    for language in LANGUAGES:
        assert placeholders(catalog(language)[key]) == expected, (language, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_deed_confirmation_fits_one_segment(language):
    texts = Texts(language)
    for category in ("study", "achievement", "service", "discipline", "integrity"):
        body = texts.get(
            "deed.recorded", category=texts.get(f"category.{category}"), week=128, streak=365
        )
        assert count_segments(body).segments == 1, body
    assert count_segments(texts.get("deed.recorded_plain", week=128, streak=365)).segments == 1


def test_english_texts_stay_in_gsm7():
    """One character outside GSM-7 makes an English SMS cost 2.3 times as much."""
    for key, template in catalog("en").items():
        if key.startswith(("web.", "console.")):  # pages, never sent by SMS
            continue
        rendered = template.format(**dict.fromkeys(placeholders(template), "x"))
        assert count_segments(rendered).encoding == "GSM-7", key


def test_unknown_language_falls_back_to_the_default():
    assert Texts("fr").language == "zh-CN"
