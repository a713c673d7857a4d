"""``/lapor``: the monthly monitoring report of a Deliver-stage idea, one per idea and month."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Core
from bot.config import Settings
from handlers.indicators import missing_indicators
from handlers.messages import Attachment
from handlers.monitoring import parse_progress
from storage.models import IdeaAttachment, Stage
from tests.calendar_helpers import (
    BUDI_NIP,
    IDEA,
    OTHER_IDEA,
    OTHER_PROBLEM,
    PROBLEM,
    add_collaborator,
    core_at_now,
    latest_idea_id,
    reports,
    set_stage,
)
from tests.chat import ID, ChatDriver


@pytest.fixture
async def chat(settings: Settings) -> AsyncIterator[ChatDriver]:
    async with core_at_now(settings) as core:
        yield ChatDriver(core)


def _file(tmp_path: Path, name: str, kind: str = "document") -> Attachment:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4" if kind == "document" else b"\xff\xd8\xff")
    mime = "application/pdf" if kind == "document" else "image/jpeg"
    return Attachment(kind, path, name, mime, path.stat().st_size)  # type: ignore[arg-type]


async def _rina_with_an_idea_in_deliver(chat: ChatDriver) -> int:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", PROBLEM, IDEA)
    idea_id = await latest_idea_id(chat.core)
    await set_stage(chat.core, idea_id, Stage.DELIVER)
    return idea_id


async def attachments(core: Core) -> list[IdeaAttachment]:
    async with core.database.sessions() as session:
        return list(await session.scalars(select(IdeaAttachment).order_by(IdeaAttachment.id)))


def _mandatory_missing(proven: set[str]) -> str:
    missing = [i for i in missing_indicators(proven) if i.mandatory]
    names = ", ".join(ID(f"indicator.{i.code}") for i in missing)
    return ID("report.missing_mandatory", indicators=names)


@pytest.mark.parametrize(
    ("typed", "value"),
    [("75", 75), ("75%", 75), ("75 %", 75), ("75 persen", 75), ("0", 0), ("100%", 100)],
)
def test_progress_is_read_with_or_without_a_percent_sign(typed: str, value: int) -> None:
    assert parse_progress(typed) == value


async def test_a_full_report_is_saved_with_its_eviden(chat: ChatDriver, tmp_path: Path) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    replies = await chat.say("rina", "/lapor")  # one Deliver idea: straight in
    first = replies[0].text
    assert ID("report.intro", name="SI-JEMPOL", id=idea_id, month="Maret 2027") in first
    # The proofs it still lacks, up front: mandatory ones named first.
    assert _mandatory_missing(set()) in first
    assert "Regulasi (SK, Perkada, Perda), SDM (SK tim)" in first
    assert replies[-1].text == ID("report.ask_progress")

    await chat.say("rina", "75 %")
    assert chat.text("rina") == ID("report.ask_done")
    await chat.say("rina", "Perekaman KTP-el di 40 rumah warga lansia.")
    await chat.press("rina", "obstacle:budget")
    await chat.press("rina", "obstacle:staff")
    await chat.press("rina", "obstacle:staff")  # changed her mind
    assert [c.title for c in chat.choices("rina")][:2] == ["✓ Anggaran", "SDM"]
    await chat.press("rina", "obstacle:done")
    assert chat.text("rina").startswith(ID("report.ask_obstacle_note"))
    await chat.say("rina", "Dana BBM kendaraan operasional belum cair.")

    assert chat.text("rina").startswith(ID("report.ask_eviden", count=0))
    await chat.attach("rina", _file(tmp_path, "sk-kepala-dinas.pdf"))
    assert ID("report.ask_indicator", file="sk-kepala-dinas.pdf") in chat.text("rina")
    # Mandatory indicators the idea lacks come first.
    assert chat.choices("rina")[0].payload == "ind:regulasi"
    await chat.press("rina", "ind:regulasi")
    assert ID("report.ask_eviden_more", count=1) in chat.text("rina")
    await chat.attach("rina", _file(tmp_path, "video.jpg", kind="photo"))
    # Regulasi is proven now: it no longer leads the list.
    assert chat.choices("rina")[0].payload == "ind:sdm"
    await chat.pick("rina", "Kualitas")
    await chat.press("rina", "eviden:done")
    assert chat.text("rina") == ID("report.ask_next_step")
    await chat.say("rina", "Menambah jadwal ke dua kecamatan lagi.")

    summary = chat.text("rina")
    assert ID("report.summary_title", name="SI-JEMPOL", month="Maret 2027") in summary
    assert "75%" in summary and "Anggaran" in summary and "sk-kepala-dinas.pdf" in summary
    replies = await chat.press("rina", "summary:save")
    assert replies[0].text == ID("report.saved", name="SI-JEMPOL", month="Maret 2027")

    [report] = await reports(chat.core)
    assert (report.idea_id, report.period, report.progress) == (idea_id, "2027-03", 75)
    assert report.done == "Perekaman KTP-el di 40 rumah warga lansia."
    assert report.obstacles == ["budget"]
    assert report.obstacle_note == "Dana BBM kendaraan operasional belum cair."
    assert report.next_step == "Menambah jadwal ke dua kecamatan lagi."
    files = await attachments(chat.core)
    assert [(f.file_name, f.indicator, f.report_id) for f in files] == [
        ("sk-kepala-dinas.pdf", "regulasi", report.id),
        ("video.jpg", "kualitas", report.id),
    ]
    # Next time, what was proven is no longer asked for.
    replies = await chat.say("rina", f"/lapor {idea_id}")
    assert _mandatory_missing({"regulasi", "kualitas"}) in replies[0].text
    assert "Regulasi" not in replies[0].text


async def _up_to_progress(chat: ChatDriver) -> int:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    await chat.say("rina", f"/lapor {idea_id}")
    return idea_id


async def test_progress_outside_0_to_100_is_explained(chat: ChatDriver, tmp_path: Path) -> None:
    await _up_to_progress(chat)
    for wrong in ("140 %", "-5", "banyak", "🚀", "9" * 4000):
        replies = await chat.say("rina", wrong)
        assert replies[0].text == ID("report.progress_invalid"), wrong
        assert replies[-1].text == ID("report.ask_progress")
    replies = await chat.attach("rina", _file(tmp_path, "foto.jpg", kind="photo"))
    assert replies[0].text == ID("report.progress_expected")
    replies = await chat.say("rina", "75 persen")
    assert replies[-1].text == ID("report.ask_done")


async def test_text_where_a_file_is_asked_is_answered_and_nothing_is_lost(
    chat: ChatDriver, tmp_path: Path
) -> None:
    await _up_to_progress(chat)
    await chat.say("rina", "50")
    replies = await chat.say("rina", "😀😀")
    assert replies[0].text == ID("report.too_short", minimum=3)
    await chat.say("rina", "Sosialisasi di kelurahan.")
    await chat.press("rina", "obstacle:none")  # no obstacle: its words are not asked
    assert chat.text("rina").startswith(ID("report.ask_eviden", count=0))
    await chat.attach("rina", _file(tmp_path, "daftar-hadir.pdf"))
    replies = await chat.say("rina", "ini daftar hadirnya")
    assert replies[0].text == ID("report.choose_indicator")
    assert len(chat.choices("rina")) <= 10  # twenty indicators, paged
    await chat.press("rina", "page:next")
    await chat.press("rina", "ind:sosialisasi")
    replies = await chat.say("rina", "sudah semua")
    assert replies[0].text == ID("report.file_expected")
    assert ID("report.ask_eviden_more", count=1) in replies[-1].text
    await chat.press("rina", "eviden:done")
    await chat.say("rina", "Lanjut ke kecamatan berikutnya.")
    assert "daftar-hadir.pdf" in chat.text("rina")
    await chat.press("rina", "summary:save")
    [report] = await reports(chat.core)
    assert report.progress == 50 and report.obstacles == [] and report.obstacle_note is None


async def _send_a_report(chat: ChatDriver, idea_id: int, progress: str = "60") -> None:
    await chat.say("rina", f"/lapor {idea_id}")
    await chat.say("rina", progress)
    await chat.say("rina", "Perekaman di 20 rumah.")
    await chat.press("rina", "obstacle:technology")
    await chat.press("rina", "obstacle:done")
    await chat.press("rina", "report:skip")
    await chat.press("rina", "eviden:done")
    await chat.say("rina", "Perbaikan alat perekam.")
    await chat.press("rina", "summary:save")


async def test_a_second_report_for_the_month_corrects_the_first(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    await _send_a_report(chat, idea_id)
    replies = await chat.say("rina", f"/lapor {idea_id}")
    assert ID("report.correcting", month="Maret 2027") in replies[0].text
    assert ID("report.current_value", value="60%") in replies[-1].text
    await chat.say("rina", "90")
    assert ID("report.current_value", value="Perekaman di 20 rumah.") in chat.text("rina")
    await chat.press("rina", "report:keep")
    assert "✓ Teknologi" in [c.title for c in chat.choices("rina")]
    await chat.press("rina", "obstacle:done")
    await chat.press("rina", "report:skip")
    await chat.press("rina", "eviden:done")
    await chat.press("rina", "report:keep")
    assert ID("report.summary_correcting") in chat.text("rina")
    replies = await chat.press("rina", "summary:save")
    assert replies[0].text == ID("report.corrected", name="SI-JEMPOL", month="Maret 2027")
    [report] = await reports(chat.core)  # corrected, not duplicated
    assert (report.progress, report.done, report.obstacles) == (
        90,
        "Perekaman di 20 rumah.",
        ["technology"],
    )


async def test_a_field_is_edited_from_the_summary(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    await chat.say("rina", f"/lapor {idea_id}")
    for text in ("40", "Pelatihan petugas."):
        await chat.say("rina", text)
    await chat.press("rina", "obstacle:none")
    await chat.press("rina", "eviden:done")
    await chat.say("rina", "Uji coba layanan.")
    await chat.press("rina", "summary:edit")
    await chat.press("rina", "edit:progress")
    await chat.say("rina", "45%")
    assert ID("report.summary_question") in chat.text("rina")
    await chat.press("rina", "summary:save")
    [report] = await reports(chat.core)
    assert report.progress == 45


async def test_a_report_for_someone_elses_idea_is_refused(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    await chat.register("budi", name="Budi Santoso", nip=BUDI_NIP)
    for command in (f"/lapor {idea_id}", f"/lapor {idea_id} 2027-03", "/report 4242", "/lapor x"):
        replies = await chat.say("budi", command)
        assert [r.text for r in replies] == [ID("report.not_yours")], command
    assert "SI-JEMPOL" not in chat.text("budi")
    assert await reports(chat.core) == []


async def test_a_collaborator_may_report(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    await chat.register("budi", name="Budi Santoso", nip=BUDI_NIP)
    await add_collaborator(chat.core, idea_id, "budi")
    replies = await chat.say("budi", "/report")
    assert ID("report.intro", name="SI-JEMPOL", id=idea_id, month="Maret 2027") in replies[0].text


async def test_the_prompts_button_names_the_period(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    replies = await chat.press("rina", f"/lapor {idea_id} 2027-02")
    assert ID("report.intro", name="SI-JEMPOL", id=idea_id, month="Februari 2027") in (
        replies[0].text
    )
    await chat.say("rina", "100")
    await chat.say("rina", "Selesai semua.")
    await chat.press("rina", "obstacle:none")
    await chat.press("rina", "eviden:done")
    await chat.say("rina", "Replikasi ke OPD lain.")
    await chat.press("rina", "summary:save")
    [report] = await reports(chat.core)
    assert report.period == "2027-02"


async def test_a_period_not_yet_come_or_unreadable_is_explained(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_deliver(chat)
    replies = await chat.say("rina", f"/lapor {idea_id} 2027-04")
    assert [r.text for r in replies] == [ID("report.future_period")]
    replies = await chat.say("rina", f"/lapor {idea_id} maret")
    assert [r.text for r in replies] == [ID("report.bad_period")]


async def test_no_idea_in_deliver_is_explained(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", PROBLEM, IDEA)
    replies = await chat.say("rina", "/lapor")
    assert [r.text for r in replies] == [ID("report.none_in_deliver")]
    idea_id = await latest_idea_id(chat.core)
    replies = await chat.say("rina", f"/lapor {idea_id}")
    assert replies[0].text == ID("report.not_in_deliver", name="SI-JEMPOL", stage="Diagnose")


async def test_with_several_ideas_in_deliver_the_person_picks_one(chat: ChatDriver) -> None:
    first = await _rina_with_an_idea_in_deliver(chat)
    await chat.submit_idea("rina", "PUSTAKA KILAT", OTHER_PROBLEM, OTHER_IDEA)
    second = await latest_idea_id(chat.core)
    await set_stage(chat.core, second, Stage.DELIVER)
    await chat.say("rina", "/lapor")
    assert {c.payload for c in chat.choices("rina")} == {f"pick:{first}", f"pick:{second}"}
    replies = await chat.press("rina", f"pick:{second}")
    assert ID("report.intro", name="PUSTAKA KILAT", id=second, month="Maret 2027") in (
        chat.text("rina")
    )
    assert replies[-1].text == ID("report.ask_progress")


async def test_a_restart_resumes_the_draft(settings: Settings) -> None:
    async with core_at_now(settings) as before:
        chat = ChatDriver(before)
        idea_id = await _rina_with_an_idea_in_deliver(chat)
        await chat.say("rina", f"/lapor {idea_id}")
        await chat.say("rina", "30")
    async with core_at_now(settings) as after:
        chat = ChatDriver(after)
        replies = await chat.say("rina", "Rapat persiapan dengan RT.")
        assert replies[-1].text == ID("report.ask_obstacles")
        await chat.press("rina", "obstacle:none")
        await chat.press("rina", "eviden:done")
        await chat.say("rina", "Jadwal kunjungan pertama.")
        await chat.press("rina", "summary:save")
        [report] = await reports(after)
        assert (report.progress, report.done) == (30, "Rapat persiapan dengan RT.")
