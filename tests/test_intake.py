"""Idea intake end to end through the engine: fields, the duplicate prompt, summary, edits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.app import Core, open_core
from bot.config import Settings
from handlers.messages import Attachment
from storage.models import (
    Idea,
    IdeaCollaborator,
    IdeaStatus,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
)
from tests.chat import ID, ChatDriver

JEMPUT_PROBLEM = (
    "Banyak warga lanjut usia dan penyandang disabilitas belum merekam KTP elektronik karena "
    "tidak mampu datang ke kantor Disdukcapil."
)
JEMPUT_IDEA = (
    "Petugas Disdukcapil mendatangi rumah warga lansia dan penyandang disabilitas dengan alat "
    "perekaman KTP elektronik portabel, sesuai jadwal yang didaftarkan lewat RT."
)
OTHER_PROBLEM = "Antrean di loket perpustakaan daerah panjang saat jam istirahat sekolah."
OTHER_IDEA = "Peminjaman buku mandiri dengan kartu anggota ber-QR di mesin swalayan."


async def ideas(core: Core) -> list[Idea]:
    async with core.database.sessions() as session:
        return list((await session.scalars(select(Idea).order_by(Idea.id))).unique())


async def decisions(core: Core) -> list[SimilarityDecision]:
    async with core.database.sessions() as session:
        return list(await session.scalars(select(SimilarityDecision)))


async def _up_to_the_opd_question(chat: ChatDriver) -> None:
    """Rina registers and answers every question of an idea up to its OPD."""
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA KILAT", OTHER_PROBLEM, OTHER_IDEA, "Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    await chat.press("rina", "digital:yes")
    await chat.press("rina", "form:pelayanan_publik")
    await chat.say("rina", "perpustakaan")
    await chat.press("rina", "initiator:asn")
    assert ID("intake.ask_opd", opd="Dinas Kesehatan") in chat.text("rina")


async def test_an_idea_is_saved_with_every_field(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    [idea] = await ideas(chat.core)
    assert ID("intake.saved", id=idea.id, name="SI-JEMPOL") in replies[0].text
    assert idea.name == "SI-JEMPOL"
    assert idea.problem == JEMPUT_PROBLEM
    assert idea.idea == JEMPUT_IDEA
    assert idea.goal and idea.benefit and idea.beneficiaries
    assert idea.is_digital is False
    assert idea.form == "pelayanan_publik"
    assert idea.affair == "kesehatan"
    assert idea.initiator == "asn"
    assert idea.budget_estimate == 50_000_000
    assert idea.opd is not None and idea.opd.short_name == "Dinkes"
    assert idea.stage is Stage.DIAGNOSE and idea.status is IdeaStatus.SUBMITTED


async def test_each_field_is_asked_one_at_a_time(chat: ChatDriver) -> None:
    await chat.register("rina")
    asked = [(await chat.say("rina", "/ide"))[-1].text]
    for answer in ("SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA, "Tujuan yang jelas", "Manfaat nyata"):
        asked.append((await chat.say("rina", answer))[-1].text)
    assert asked == [
        ID("intake.ask_name"),
        ID("intake.ask_problem"),
        ID("intake.ask_idea"),
        ID("intake.ask_goal"),
        ID("intake.ask_benefit"),
        ID("intake.ask_beneficiaries"),
    ]


async def test_a_close_idea_is_shown_with_name_opd_stage_and_score(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    await chat.register(
        "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
    )
    await chat.say("budi", "/ide")
    await chat.say("budi", "LAKON DUKCAPIL")
    await chat.say("budi", JEMPUT_PROBLEM)
    replies = await chat.say("budi", JEMPUT_IDEA)
    warning = replies[-1]
    assert "SI-JEMPOL" in warning.text
    assert "Dinas Kesehatan" in warning.text
    assert ID("stage.diagnose") in warning.text
    assert "%" in warning.text
    payloads = [c.payload for c in warning.choices]
    assert payloads == ["dup:continue", "dup:view:1", "dup:join:1", "dup:rep:1", "dup:cancel"]


async def test_nothing_is_shown_when_nothing_is_close(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    await chat.say("rina", "/ide")
    await chat.say("rina", "PUSTAKA KILAT")
    await chat.say("rina", OTHER_PROBLEM)
    replies = await chat.say("rina", OTHER_IDEA)
    assert replies[-1].text == ID("intake.ask_goal")


async def _second_submitter_sees_warning(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    await chat.register(
        "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
    )
    await chat.say("budi", "/ide")
    await chat.say("budi", "LAKON DUKCAPIL")
    await chat.say("budi", JEMPUT_PROBLEM)
    await chat.say("budi", JEMPUT_IDEA)
    assert ID("dup.question") in chat.text("budi")


async def test_continue_records_the_decision_and_saves_a_new_idea(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    await chat.press("budi", "dup:continue")
    assert chat.last["budi"][-1].text == ID("intake.ask_goal")
    await chat.say("budi", "Tujuan yang jelas")
    await chat.say("budi", "Manfaat nyata")
    await chat.say("budi", "Lansia")
    await chat.press("budi", "digital:no")
    await chat.press("budi", "form:pelayanan_publik")
    await chat.say("budi", "kependudukan")
    await chat.press("budi", "initiator:asn")
    await chat.press("budi", "opd:own")
    await chat.press("budi", "budget:skip")
    await chat.press("budi", "attach:done")
    await chat.press("budi", "summary:save")
    first, second = await ideas(chat.core)
    assert second.name == "LAKON DUKCAPIL" and second.budget_estimate is None
    assert second.affair == "adminduk"
    [decision] = await decisions(chat.core)
    assert decision.decision is SimilarityDecisionKind.CONTINUE
    assert decision.matched_idea_id == first.id
    assert decision.idea_id == second.id  # linked once the idea exists
    assert 0 <= decision.score <= 100


async def test_join_makes_the_submitter_a_collaborator_and_saves_nothing_new(
    chat: ChatDriver,
) -> None:
    await _second_submitter_sees_warning(chat)
    await chat.press("budi", "dup:join:1")
    replies = await chat.press("budi", "join:yes")
    [only] = await ideas(chat.core)
    assert ID("dup.joined", name="SI-JEMPOL", id=only.id) in replies[0].text
    async with chat.core.database.sessions() as session:
        links = list(await session.scalars(select(IdeaCollaborator)))
    assert [link.idea_id for link in links] == [only.id]
    [decision] = await decisions(chat.core)
    assert decision.decision is SimilarityDecisionKind.JOIN
    await chat.say("budi", "/ideku")
    assert "SI-JEMPOL" in chat.text("budi")
    assert ID("my_ideas.collaborator") in chat.text("budi")


async def test_replication_is_recorded_on_the_new_idea(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    replies = await chat.press("budi", "dup:rep:1")
    assert replies[0].text == ID("dup.replication_noted", name="SI-JEMPOL")
    assert replies[-1].text == ID("intake.ask_goal")
    for text in ("Tujuan yang jelas", "Manfaat nyata", "Lansia"):
        await chat.say("budi", text)
    await chat.press("budi", "digital:yes")
    await chat.press("budi", "form:lainnya")
    await chat.say("budi", "kependudukan")
    await chat.press("budi", "initiator:opd")
    await chat.press("budi", "opd:own")
    await chat.press("budi", "budget:skip")
    await chat.press("budi", "attach:done")
    assert ID("intake.summary_replication", name="SI-JEMPOL") in chat.text("budi")
    await chat.press("budi", "summary:save")
    original, replica = await ideas(chat.core)
    assert replica.replication_of_id == original.id
    [decision] = await decisions(chat.core)
    assert decision.decision is SimilarityDecisionKind.REPLICATE


async def test_cancel_at_the_warning_discards_the_draft(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    replies = await chat.press("budi", "dup:cancel")
    assert replies[0].text == ID("intake.cancelled")
    assert len(await ideas(chat.core)) == 1
    [decision] = await decisions(chat.core)
    assert decision.decision is SimilarityDecisionKind.CANCEL
    assert decision.idea_id is None


async def test_a_field_can_be_edited_from_the_summary(chat: ChatDriver) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:own")
    await chat.say("rina", "Rp 12.500.000")
    await chat.press("rina", "attach:done")
    await chat.press("rina", "summary:edit")
    edit_titles = [c.title for c in chat.choices("rina")]
    assert len(edit_titles) <= 10
    await chat.press("rina", "page:next")
    await chat.press("rina", "edit:budget")
    assert chat.last["rina"][-1].text == ID("intake.ask_budget")
    replies = await chat.say("rina", "1,5 juta")
    assert ID("intake.summary_title") in replies[-1].text
    assert "Rp1.500.000" in replies[-1].text
    await chat.press("rina", "summary:edit")
    await chat.press("rina", "edit:name")
    assert "PUSTAKA KILAT" in chat.text("rina")  # the current answer is shown
    await chat.say("rina", "PUSTAKA KILAT 2.0")
    await chat.press("rina", "summary:save")
    [idea] = await ideas(chat.core)
    assert idea.name == "PUSTAKA KILAT 2.0"
    assert idea.budget_estimate == 1_500_000
    assert idea.affair == "perpustakaan"


async def test_the_idea_can_belong_to_another_opd(chat: ChatDriver) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:other")
    await chat.say("rina", "arsip")
    await chat.pick("rina", "Perpustakaan")
    assert chat.last["rina"][-1].text == ID("intake.ask_budget")
    await chat.press("rina", "budget:skip")
    await chat.press("rina", "attach:done")
    await chat.press("rina", "summary:save")
    [idea] = await ideas(chat.core)
    assert idea.opd is not None and "Perpustakaan" in idea.opd.name


async def test_attachments_are_kept_with_the_idea(chat: ChatDriver, tmp_path: Path) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:own")
    await chat.press("rina", "budget:skip")
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    replies = await chat.attach("rina", Attachment("photo", photo, "foto.jpg", "image/jpeg", 3))
    # One message says the file arrived (and asks for more), not two.
    assert [r.text for r in replies] == [ID("intake.ask_attachments_more", count=1)]
    replies = await chat.say("rina", "ini fotonya")
    assert replies[0].text == ID("intake.attachments_expected")
    await chat.press("rina", "attach:done")
    assert "foto.jpg" in chat.text("rina")
    await chat.press("rina", "summary:save")
    [idea] = await ideas(chat.core)
    assert [(a.file_name, a.kind, a.storage_path) for a in idea.attachments] == [
        ("foto.jpg", "photo", str(photo))
    ]


async def test_batal_works_at_any_step(chat: ChatDriver) -> None:
    await chat.register("rina")
    for steps in range(0, 4):
        await chat.say("rina", "/ide")
        for text in ("PUSTAKA KILAT", OTHER_PROBLEM, OTHER_IDEA)[:steps]:
            await chat.say("rina", text)
        replies = await chat.say("rina", "/batal")
        assert replies[0].text == ID("flow.cancelled")
    assert await ideas(chat.core) == []
    replies = await chat.say("rina", "/batal")
    assert replies[0].text == ID("flow.nothing_to_cancel")


async def test_a_restart_mid_intake_resumes_at_the_same_question(
    chat: ChatDriver, settings: Settings
) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "PUSTAKA KILAT")
    await chat.say("rina", OTHER_PROBLEM)
    # A new process: nothing carried over in memory.
    async with open_core(settings, migrate=False) as restarted:
        again = ChatDriver(restarted)
        replies = await again.say("rina", "apa pertanyaannya tadi?")
        # The question asked before the restart is shown again, not answered by this text.
        assert replies[-1].text == ID("intake.ask_idea")
        await again.say("rina", OTHER_IDEA)
        for text in ("Tujuan", "Manfaat", "Siswa"):
            await again.say("rina", text)
        await again.press("rina", "digital:yes")
        await again.press("rina", "form:pelayanan_publik")
        await again.say("rina", "perpustakaan")
        await again.press("rina", "initiator:asn")
        await again.press("rina", "opd:own")
        await again.press("rina", "budget:skip")
        await again.press("rina", "attach:done")
        await again.press("rina", "summary:save")
        [idea] = await ideas(restarted)
        assert idea.problem == OTHER_PROBLEM
        assert idea.idea == OTHER_IDEA


async def test_my_ideas_lists_stage_and_status_and_shows_detail(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    replies = await chat.say("rina", "/ideku")
    text = replies[-1].text
    assert "SI-JEMPOL" in text
    assert ID("stage.diagnose") in text and ID("status.submitted") in text
    [idea] = await ideas(chat.core)
    replies = await chat.press("rina", f"idea:{idea.id}")
    assert replies[0].text.startswith(ID("my_ideas.detail_title", id=idea.id, name="SI-JEMPOL"))


async def test_another_persons_idea_id_is_not_shown(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    [idea] = await ideas(chat.core)
    await chat.register(
        "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
    )
    replies = await chat.say("budi", f"/ideku {idea.id}")
    assert replies[0].text == ID("my_ideas.not_yours")
    # A forged button with her idea's id is refused as a button never offered.
    replies = await chat.press("budi", f"idea:{idea.id}")
    assert replies[0].text == ID("input.stale_button")
    assert JEMPUT_PROBLEM not in chat.text("budi")


async def test_a_clean_stop_and_start_mid_intake_resumes(settings: Settings) -> None:
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv

    async with open_core(settings, migrate=False) as before:
        await import_opds(before.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        chat = ChatDriver(before)
        await chat.register("rina")
        await chat.say("rina", "/ide")
        await chat.say("rina", "PUSTAKA KILAT")
    # The first process is gone (engine disposed); a new one starts on the same database.
    async with open_core(settings, migrate=False) as after:
        chat = ChatDriver(after)
        replies = await chat.say("rina", "/ide")
        assert ID("flow.already_running") in chat.text("rina")
        assert replies[-1].text == ID("intake.ask_problem")


async def test_joining_ones_own_idea_keeps_the_draft(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    await chat.say("rina", "/ide")
    await chat.say("rina", "SI-JEMPOL 2")
    await chat.say("rina", JEMPUT_PROBLEM)
    await chat.say("rina", JEMPUT_IDEA)
    replies = await chat.press("rina", "dup:join:1")
    assert replies[0].text == ID("dup.own_idea", name="SI-JEMPOL")
    assert ID("dup.question") in replies[-1].text  # the same question, the draft intact
    replies = await chat.press("rina", "dup:continue")
    assert replies[-1].text == ID("intake.ask_goal")


async def test_a_budget_with_sen_is_read_and_shown_right(chat: ChatDriver) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:own")
    replies = await chat.say("rina", "Rp 12.500.000,00")
    assert replies[-1].text == ID("intake.ask_attachments", count=0)
    await chat.press("rina", "attach:done")
    assert f"{ID('field.budget')}: Rp12.500.000\n" in chat.text("rina")
    await chat.press("rina", "summary:save")
    [idea] = await ideas(chat.core)
    assert idea.budget_estimate == 12_500_000


async def test_an_amount_with_two_meanings_is_asked_not_guessed(chat: ChatDriver) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:own")
    replies = await chat.say("rina", "12.500")
    assert replies[-1].text == ID("intake.budget_which", typed="12.500")
    assert [c.title for c in replies[-1].choices] == ["Rp12.500", "Rp12.500.000", ID("intake.skip")]
    await chat.pick("rina", "Rp12.500.000")
    assert chat.last["rina"][-1].text == ID("intake.ask_attachments", count=0)
    await chat.press("rina", "attach:done")
    await chat.press("rina", "summary:save")
    [idea] = await ideas(chat.core)
    assert idea.budget_estimate == 12_500_000


async def test_a_skipped_budget_reads_not_filled_in_not_zero(chat: ChatDriver) -> None:
    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:own")
    await chat.press("rina", "budget:skip")
    await chat.press("rina", "attach:done")
    assert f"{ID('field.budget')}: {ID('intake.not_filled')}" in chat.text("rina")


async def test_joining_asks_first_and_says_what_happens_to_the_draft(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    [original] = await ideas(chat.core)
    replies = await chat.press("budi", "dup:join:1")
    assert replies[-1].text == ID(
        "dup.join_confirm", id=original.id, name="SI-JEMPOL", draft="LAKON DUKCAPIL"
    )
    assert [c.payload for c in replies[-1].choices] == ["join:yes", "join:back"]
    async with chat.core.database.sessions() as session:
        assert list(await session.scalars(select(IdeaCollaborator))) == []
    assert await decisions(chat.core) == []  # nothing decided yet
    # Going back shows the same duplicate question; the draft is still there.
    replies = await chat.press("budi", "join:back")
    assert ID("dup.question") in replies[-1].text
    await chat.press("budi", "dup:continue")
    assert chat.last["budi"][-1].text == ID("intake.ask_goal")
    await chat.say("budi", "/batal")
    [decision] = await decisions(chat.core)
    assert decision.decision is SimilarityDecisionKind.CONTINUE


async def test_part_of_a_choices_words_answers_it(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    replies = await chat.say("budi", "berbeda")  # for "Ide saya berbeda"
    assert replies[-1].text == ID("intake.ask_goal")


async def test_words_shared_by_two_choices_answer_neither(chat: ChatDriver) -> None:
    await _second_submitter_sees_warning(chat)
    replies = await chat.say("budi", "ide")  # in "Ide saya berbeda", "Gabung ke ide 1" …
    assert replies[0].text == ID("input.choose_option", last=5)
    assert ID("dup.question") in replies[-1].text
