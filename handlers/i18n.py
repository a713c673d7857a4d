"""Message catalogues: gettext ``.po`` files under ``locales/``, keyed by message id.

Each ``msgid`` is a stable key such as ``intake.ask_name``; ``msgstr`` is the text, with
``str.format`` placeholders (``{name}``). Indonesian is the default; English sits beside it.
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LOCALE = "id"
LOCALES = ("id", "en")


class MissingMessage(KeyError):
    """A key is absent from a catalogue: a bug that the catalogue test catches first."""


@cache
def load_catalogue(locale: str) -> dict[str, str]:
    """Read ``locales/<locale>/messages.po`` into a key → text mapping."""
    path = LOCALES_DIR / locale / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    messages: dict[str, str] = {}
    for message in catalog:
        if message.id and isinstance(message.id, str) and isinstance(message.string, str):
            messages[message.id] = message.string
    return messages


def placeholders(text: str) -> set[str]:
    """The named ``{placeholders}`` of a message."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Translator:
    """Renders catalogue messages in one language."""

    def __init__(self, locale: str | None) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self._messages = load_catalogue(self.locale)

    def __call__(self, key: str, **values: object) -> str:
        try:
            text = self._messages[key]
        except KeyError as exc:
            raise MissingMessage(f"{key!r} is missing from the {self.locale} catalogue") from exc
        return text.format(**values) if values else text

    def number(self, value: int) -> str:
        """``4096`` as this language writes it: ``4.096`` in Indonesian, ``4,096`` in English."""
        return format_decimal(value, locale=self.locale)

    def has(self, key: str) -> bool:
        return key in self._messages
