"""Rendering the core's replies within WhatsApp's limits."""

from __future__ import annotations

from pathlib import Path

from bot.channels.whatsapp_render import (
    FilePart,
    MessagePart,
    interactive_body,
    render_reply,
    split_text,
)
from handlers.messages import Choice, OutgoingFile, Reply
from tests.fakes.graph_api import validate_message

TO = "6281234567890"


def _payloads(reply: Reply) -> list[dict]:
    parts = render_reply(TO, reply, "Pilih")
    assert all(isinstance(p, MessagePart) for p in parts)
    payloads = [p.payload for p in parts if isinstance(p, MessagePart)]
    for payload in payloads:
        assert validate_message(payload, set(), {}) == []
    return payloads


def test_three_short_choices_are_reply_buttons() -> None:
    reply = Reply(
        "Lanjutkan?",
        (Choice("dup:continue", "Lanjutkan"), Choice("dup:join", "Gabung"), Choice("x", "Batal")),
    )
    [payload] = _payloads(reply)
    interactive = payload["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"]["text"] == "Lanjutkan?"
    assert [b["reply"]["id"] for b in interactive["action"]["buttons"]] == [
        "dup:continue",
        "dup:join",
        "x",
    ]


def test_four_choices_or_a_long_title_become_a_list() -> None:
    four = Reply("Pilih", tuple(Choice(f"c{i}", f"Pilihan {i}") for i in range(4)))
    assert _payloads(four)[0]["interactive"]["type"] == "list"
    long_title = Reply("Pilih", (Choice("a", "Replikasi dari OPD lain"), Choice("b", "Batal")))
    [payload] = _payloads(long_title)
    assert payload["interactive"]["type"] == "list"
    assert payload["interactive"]["action"]["button"] == "Pilih"


def test_list_rows_carry_the_full_label_as_description() -> None:
    label = "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Contoh yang panjang sekali namanya"
    reply = Reply(
        "OPD Anda?", tuple(Choice(f"opd:{i}", f"Disdukcapil {i}", label) for i in range(10))
    )
    [payload] = _payloads(reply)
    rows = payload["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) == 10
    assert rows[0]["description"] == label[:72]


def test_long_text_is_split_at_paragraphs() -> None:
    text = "\n\n".join(f"Paragraf {i} " + "kata " * 300 for i in range(5))
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert all(p.startswith("Paragraf") for p in pieces)


def test_text_without_spaces_is_cut_hard() -> None:
    pieces = split_text("x" * 9000)
    assert [len(p) for p in pieces] == [4096, 4096, 808]


def test_a_long_question_sends_the_text_first_then_the_last_paragraph_with_buttons() -> None:
    summary = (
        "Ringkasan ide:\n" + "\n".join(f"Bidang {i}: " + "isi " * 40 for i in range(8)).strip()
    )
    reply = Reply(
        summary + "\n\nSimpan ide ini?", (Choice("save", "Simpan"), Choice("no", "Batal"))
    )
    payloads = _payloads(reply)
    assert [p["type"] for p in payloads] == ["text", "interactive"]
    assert payloads[0]["text"]["body"] == summary
    assert payloads[1]["interactive"]["body"]["text"] == "Simpan ide ini?"


def test_one_huge_paragraph_with_choices_still_fits() -> None:
    reply = Reply("kata " * 600, (Choice("a", "Ya"),))
    payloads = _payloads(reply)
    lead, body = interactive_body(reply.text)
    assert len(body) <= 1024
    assert (lead + " " + body).split() == reply.text.split()
    assert payloads[-1]["interactive"]["body"]["text"] == body


def test_a_file_goes_with_the_text_as_caption(tmp_path: Path) -> None:
    path = tmp_path / "rekap.pdf"
    path.write_bytes(b"%PDF")
    parts = render_reply(
        TO, Reply("Rekap OPD", file=OutgoingFile("document", path, "rekap.pdf")), ""
    )
    [part] = parts
    assert isinstance(part, FilePart)
    assert (part.kind, part.caption, part.mime_type) == ("document", "Rekap OPD", "application/pdf")


def test_a_photo_that_is_not_jpeg_or_png_goes_as_a_document(tmp_path: Path) -> None:
    reply = Reply("", file=OutgoingFile("photo", tmp_path / "grafik.webp", "grafik.webp"))
    [part] = render_reply(TO, reply, "")
    assert isinstance(part, FilePart)
    assert part.kind == "document"
    reply = Reply("", file=OutgoingFile("photo", tmp_path / "grafik.png", "grafik.png"))
    [part] = render_reply(TO, reply, "")
    assert isinstance(part, FilePart)
    assert part.kind == "image"


def test_two_choices_with_the_same_title_become_a_list() -> None:
    reply = Reply("Ide mana?", (Choice("idea:1", "SI-JEMPOL"), Choice("idea:2", "SI-JEMPOL")))
    [payload] = _payloads(reply)
    assert payload["interactive"]["type"] == "list"
