"""Text catalogs: every user-facing sentence, zh-CN first and English second.

Catalogs are TOML files beside this module, one per language, with flat dotted keys
grouped in tables. `Texts.get(key, **params)` formats with named placeholders.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise KeyError(f"no catalog for language {language!r}")
    raw = resources.files(__package__).joinpath(f"{language}.toml").read_text("utf-8")
    return _flatten(tomllib.loads(raw))


class Texts:
    """The catalog of one language, bound for formatting."""

    __slots__ = ("_entries", "language")

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._entries = catalog(self.language)

    def get(self, key: str, **params: object) -> str:
        template = self._entries[key]
        return template.format(**params) if params else template


def texts_for(language: str | None) -> Texts:
    return _texts(language or DEFAULT_LANGUAGE)


@cache
def _texts(language: str) -> Texts:
    return Texts(language)
