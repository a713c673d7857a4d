"""The Telegram channel's pure pieces: splitting, keyboards, file names, command addressing."""

from __future__ import annotations

import pytest

from bot.channels.telegram_render import (
    command_target,
    keyboard,
    safe_file_name,
    split_text,
    utf16_len,
)
from handlers.messages import Choice


def test_a_short_text_is_one_message() -> None:
    assert split_text("Halo") == ["Halo"]
    assert split_text("x" * 4096) == ["x" * 4096]


def test_an_empty_text_is_no_message() -> None:
    assert split_text("") == []
    assert split_text("  \n ") == []


def test_long_texts_are_cut_where_lines_end() -> None:
    lines = [f"baris {n:03d} " + "a" * 40 for n in range(300)]
    parts = split_text("\n".join(lines), limit=1000)
    assert all(utf16_len(p) <= 1000 for p in parts)
    assert "\n".join(parts) == "\n".join(lines)
    assert all(p.split("\n")[0].startswith("baris") for p in parts)


def test_a_line_longer_than_the_limit_is_cut_at_a_space() -> None:
    words = " ".join(["inovasi"] * 50)  # 399 characters
    parts = split_text(words, limit=100)
    assert all(utf16_len(p) <= 100 for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert " ".join(parts) == words


def test_a_line_without_spaces_is_cut_hard() -> None:
    url = "https://example.go.id/" + "x" * 250
    parts = split_text(url, limit=100)
    assert [len(p) for p in parts] == [100, 100, 72]
    assert "".join(parts) == url


def test_lengths_are_counted_in_utf16_units_like_telegram() -> None:
    assert utf16_len("😀") == 2
    parts = split_text("😀" * 60, limit=100)
    assert [utf16_len(p) for p in parts] == [100, 20]
    assert "".join(parts) == "😀" * 60


def test_choices_are_one_button_per_row_with_the_full_label() -> None:
    markup = keyboard(
        [
            Choice("opd:10", "Dinkes", "Dinas Kesehatan"),
            Choice("summary:save", "Simpan"),
        ]
    )
    assert markup is not None
    assert markup.to_dict() == {
        "inline_keyboard": [
            [{"text": "Dinas Kesehatan", "callback_data": "opd:10"}],
            [{"text": "Simpan", "callback_data": "summary:save"}],
        ]
    }
    assert keyboard([]) is None


def test_very_long_labels_are_shortened_for_the_button() -> None:
    label = "Badan Perencanaan Pembangunan, Riset dan Inovasi Daerah Kabupaten Contoh Raya"
    markup = keyboard([Choice("opd:1", "Bappeda", label)])
    assert markup is not None
    text = markup.inline_keyboard[0][0].text
    assert len(text) == 64 and text.endswith("…")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SK Tim Inovasi.pdf", "SK_Tim_Inovasi.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\budi\\foto 1.jpg", "foto_1.jpg"),
        (".hidden", "hidden"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
        ("....", "fallback.bin"),
        ("laporan-" + "x" * 200 + ".xlsx", "laporan-" + "x" * 87 + ".xlsx"),
    ],
)
def test_file_names_are_made_safe(name: str | None, expected: str) -> None:
    assert safe_file_name(name, "fallback.bin") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/rekap", (True, "/rekap")),
        ("/rekap minggu ini", (True, "/rekap minggu ini")),
        ("/rekap@Sasi_Bot minggu", (True, "/rekap minggu")),
        ("/rekap@other_bot", (False, "/rekap@other_bot")),
    ],
)
def test_commands_addressed_to_another_bot_are_not_ours(
    text: str, expected: tuple[bool, str]
) -> None:
    assert command_target(text, "sasi_bot") == expected
