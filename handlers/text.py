"""Cleaning what people type, before any step sees it."""

from __future__ import annotations

import re
import unicodedata

MAX_MESSAGE_CHARS = 4096  # Telegram's and WhatsApp's own ceiling for one message

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(raw: str | None) -> str | None:
    """NFC-normalise, drop control characters (PostgreSQL refuses NUL), trim; None when empty."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).strip()
    return text or None


def one_line(text: str) -> str:
    """Collapse runs of white space, for names and other single-line fields."""
    return " ".join(text.split())


def is_small_number(text: str) -> bool:
    """ASCII digits only, at most three: a choice number (``"²"`` and ``"٣"`` are not)."""
    return 1 <= len(text) <= 3 and text.isascii() and text.isdigit()


def has_word_character(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def shorten(text: str, limit: int) -> str:
    """Cut to ``limit`` characters with an ellipsis, for button titles and summaries."""
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
