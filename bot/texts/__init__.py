"""Text catalogs: every user-facing sentence, zh-CN first and English second.

Catalogs are directories beside this module, one per language, holding one TOML file per
capability (core, polls, commitments...) with flat dotted keys grouped in tables; a key
defined in two files of one language is an error. `Texts.get(key, **params)` formats with
named placeholders.
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
    entries: dict[str, str] = {}
    folder = resources.files(__package__).joinpath(language)
    for part in sorted(folder.iterdir(), key=lambda p: p.name):
        if not part.name.endswith(".toml"):
            continue
        flat = _flatten(tomllib.loads(part.read_text("utf-8")))
        if twice := entries.keys() & flat.keys():
            raise ValueError(f"{language}/{part.name}: keys defined twice: {sorted(twice)}")
        entries.update(flat)
    return entries


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
