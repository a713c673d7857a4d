"""Pure pieces of the Telegram channel: splitting long texts, keyboards, file names, commands.

Nothing here talks to the network, so each piece is tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.messages import Choice

MAX_MESSAGE = 4096  # sendMessage text, in UTF-16 code units
MAX_CAPTION = 1024  # sendDocument / sendPhoto caption
MAX_BUTTON_TEXT = 64  # longer button texts are cut by clients anyway; keep them readable


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut ``text`` into messages of at most ``limit`` UTF-16 units, on line boundaries.

    A single line longer than ``limit`` is cut at the last space that fits, or hard when it
    has none (a pasted URL). Empty parts are dropped; an empty text gives ``[]``.
    """
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while utf16_len(line) > limit:
            head, line = _cut_line(line, limit)
            parts.append(head)
        current = line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()]


def _cut_line(line: str, limit: int) -> tuple[str, str]:
    # Find the longest prefix within the limit, then back off to a space when there is one.
    end = 0
    units = 0
    for index, char in enumerate(line):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            break
        end = index + 1
    space = line.rfind(" ", 0, end)
    if space > end // 2:
        return line[:space], line[space + 1 :]
    return line[:end], line[end:]


def keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup | None:
    """One button per row, so long Indonesian labels stay readable on a phone."""
    if not choices:
        return None
    rows = [
        [
            InlineKeyboardButton(
                _button_text(choice.label or choice.title), callback_data=choice.payload
            )
        ]
        for choice in choices
    ]
    return InlineKeyboardMarkup(rows)


def _button_text(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BUTTON_TEXT else text[: MAX_BUTTON_TEXT - 1] + "…"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str | None, fallback: str) -> str:
    """A file name safe on any file system: no directories, no leading dots, at most 100 chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._")
    if not cleaned:
        return fallback
    if len(cleaned) > 100:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (
            (stem[: 100 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned[:100]
        )
    return cleaned


def command_target(text: str, bot_username: str | None) -> tuple[bool, str]:
    """Whether a ``/command`` is addressed to this bot, and the text without ``@botname``.

    In groups ``/rekap@OtherBot`` belongs to another bot; ``/rekap`` and ``/rekap@ThisBot``
    are ours.
    """
    head, sep, rest = text.partition(" ")
    command, at, addressee = head.partition("@")
    if not at:
        return True, text
    if bot_username is not None and addressee.lower() != bot_username.lower():
        return False, text
    return True, command + sep + rest
