"""The owners' side (issue 14.4): an idea's detail, editing and withdrawing it until verified."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import open_core
from bot.config import Settings
from handlers.messages import Attachment
from storage.models import (
    ActionPlanItem,
    AuditEntry,
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Stage,
    User,
)
from storage.outbox import OutboxMessage
from tests.chat import EN, ID, ChatDriver
from tests.roles_world import World, build_world

PROBLEM = (
    "Banyak warga lanjut usia dan penyandang disabilitas belum merekam KTP elektronik karena "
    "tidak mampu datang ke kantor Disdukcapil."
)
IDEA = (
    "Petugas Disdukcapil mendatangi rumah warga lansia dan penyandang disabilitas dengan alat "
    "perekaman KTP elektronik portabel, sesuai jadwal yang didaftarkan lewat RT."
)
LIBRARY_PROBLEM = "Antrean di loket perpustakaan daerah panjang saat jam istirahat sekolah siswa."
LIBRARY_IDEA = "Peminjaman buku mandiri dengan kartu anggota ber-QR di mesin swalayan perpustakaan."
ODD_NAME = "Dian <b>*Kolab*</b> 🙂"


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    world = await build_world(chat)
    await chat.register(
        "kolab", ODD_NAME, "199203152015031005", "kependudukan", "Disdukcapil", "Analis"
    )
    async with chat.core.database.sessions() as session:
        kolab = await session.scalar(select(User.id).where(User.nip == "199203152015031005"))
    assert kolab is not None
    world.users["kolab"] = kolab
    return world


async def _submit(world: World, name: str = "SI-JEMPOL") -> int:
    if name == "SI-JEMPOL":
        await world.chat.submit_idea("asn", name, PROBLEM, IDEA)
    else:
        await world.chat.submit_idea("asn", name, LIBRARY_PROBLEM, LIBRARY_IDEA)
    async with world.chat.core.database.sessions() as session:
        idea_id = await session.scalar(select(Idea.id).where(Idea.name == name))
    assert idea_id is not None
    return int(idea_id)


async def _update(world: World, idea_id: int, **values: Any) -> None:
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        idea = await session.get(Idea, idea_id)
        assert idea is not None
        for key, value in values.items():
            setattr(idea, key, value)


async def _add(world: World, *rows: Any) -> None:
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        session.add_all(rows)


async def _idea(world: World, idea_id: int) -> Idea:
    async with world.chat.core.database.sessions() as session:
        idea = await session.get(Idea, idea_id)
        assert idea is not None
        return idea


async def _audit(world: World, action: str) -> list[AuditEntry]:
    async with world.chat.core.database.sessions() as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows)


async def _join(world: World, idea_id: int, person: str = "kolab") -> None:
    await _add(world, IdeaCollaborator(idea_id=idea_id, user_id=world.users[person]))


def _buttons(chat: ChatDriver, person: str) -> list[str]:
    return [c.payload for r in chat.last[person] for c in r.choices]


# -- the detail --------------------------------------------------------------------------------


async def test_the_owner_sees_everything_and_the_actions(world: World) -> None:
    chat = world.chat
    other = await _submit(world, "PUSTAKA KILAT")
    await _update(world, other, opd_id=world.opds["Disdukcapil"])
    idea_id = await _submit(world)
    await _join(world, idea_id)
    await _update(world, idea_id, replication_of_id=other, launch_date=date(2027, 3, 1))
    await _add(
        world,
        ActionPlanItem(idea_id=idea_id, month=date(2027, 1, 1), activity="Survei lapangan"),
        ActionPlanItem(idea_id=idea_id, month=date(2027, 2, 1), activity="Uji coba"),
        MonitoringReport(idea_id=idea_id, period="2027-03", progress=40, done="x", next_step="y"),
        IdeaAttachment(
            idea_id=idea_id, kind="document", file_name="foto.jpg", storage_path="a", indicator="x"
        ),
    )
    replies = await chat.say("asn", f"/ideku {idea_id}")
    [detail] = replies
    text = detail.text
    assert ID("my_ideas.detail_title", id=idea_id, name="SI-JEMPOL") in text
    assert f"{ID('field.stage')}: {ID('stage.diagnose')}" in text
    assert f"{ID('field.status')}: {ID('status.submitted')}" in text
    owner = ID("detail.owner_mark", name="Rina Marlina")
    assert f"{ID('detail.people')}: {owner}, {ODD_NAME}" in text  # written as typed
    opd = "Dinas Kependudukan dan Pencatatan Sipil"  # another OPD's idea: name and OPD only
    replicated = ID("detail.other_idea", id=other, name="PUSTAKA KILAT", opd=opd)
    assert f"{ID('detail.replicates')}: {replicated}" in text
    assert f"{ID('detail.launch_date')}: 1 Maret 2027" in text
    assert ID("detail.counts", plan=2, reports=1, eviden=1) in text
    assert [c.payload for c in detail.choices] == [
        f"/ideku {idea_id} ubah",
        f"/ideku {idea_id} tarik",
    ]


async def test_a_collaborator_sees_the_detail_without_the_actions(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await _join(world, idea_id)
    [detail] = await chat.say("kolab", f"/ideku {idea_id}")
    assert ID("my_ideas.detail_title", id=idea_id, name="SI-JEMPOL") in detail.text
    assert detail.choices == ()
    for action in ("ubah", "tarik"):
        replies = await chat.press("kolab", f"/ideku {idea_id} {action}")
        assert replies[0].text == ID("owner.only_owner", id=idea_id)
    assert (await _idea(world, idea_id)).status is IdeaStatus.SUBMITTED


async def test_a_stranger_gets_the_same_answer_whether_the_idea_exists_or_not(
    world: World,
) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    answers = set()
    for command in (
        f"/ideku {idea_id}",
        "/ideku 999999",
        f"/ideku {idea_id} ubah",
        "/ideku 999999 ubah",
        f"/ideku {idea_id} tarik",
        "/ideku 99999999999999 tarik",
    ):
        replies = await chat.say("coordinator", command)
        answers.add(replies[0].text)
    assert answers == {ID("my_ideas.not_yours")}
    assert (await chat.say("asn", f"/ideku {idea_id} hapus"))[0].text == ID(
        "owner.unknown_action", id=idea_id
    )


async def test_the_reason_of_a_rejection_and_a_pending_question_are_shown(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await _update(world, idea_id, status_reason="Mohon jelaskan <b>biaya</b> alat *portabel*.")
    [detail] = await chat.say("asn", f"/ideku {idea_id}")
    question = "Mohon jelaskan <b>biaya</b> alat *portabel*."
    assert ID("detail.clarification", question=question) in detail.text
    assert detail.choices  # still open to change: the owner can answer by editing

    await _update(world, idea_id, status=IdeaStatus.REJECTED, status_reason="Sudah ada 🙏")
    [detail] = await chat.say("asn", f"/ideku {idea_id}")
    assert ID("detail.rejection_reason", reason="Sudah ada 🙏") in detail.text
    assert f"{ID('field.status')}: {ID('status.rejected')}" in detail.text
    assert detail.choices == ()


async def test_a_merged_idea_names_the_one_it_was_merged_into(world: World) -> None:
    chat = world.chat
    survivor = await _submit(world, "PUSTAKA KILAT")
    idea_id = await _submit(world)
    await _update(world, idea_id, status=IdeaStatus.MERGED, merged_into_id=survivor)
    [detail] = await chat.say("asn", f"/ideku {idea_id}")
    survivor_text = ID(
        "detail.other_idea", id=survivor, name="PUSTAKA KILAT", opd="Dinas Kesehatan"
    )
    assert ID("detail.merged_into", idea=survivor_text) in detail.text
    assert detail.choices == ()


# -- editing -----------------------------------------------------------------------------------

# field → (how the new value is given, the column, the value stored)
EDITS: dict[str, tuple[tuple[str, str], str, Any]] = {
    "name": (("say", "SI-JEMPOL <b>Plus</b> 🚐"), "name", "SI-JEMPOL <b>Plus</b> 🚐"),
    "problem": (("say", LIBRARY_PROBLEM), "problem", LIBRARY_PROBLEM),
    "idea": (("say", LIBRARY_IDEA), "idea", LIBRARY_IDEA),
    "goal": (("say", "Semua lansia punya KTP-el."), "goal", "Semua lansia punya KTP-el."),
    "benefit": (("say", "Hak pilih terjamin."), "benefit", "Hak pilih terjamin."),
    "budget": (("say", "75 juta"), "budget_estimate", 75_000_000),
    "digital": (("press", "digital:yes"), "is_digital", True),
    "form": (("press", "form:tata_kelola"), "form", "tata_kelola"),
    "affair": (("press", "affair:pendidikan"), "affair", "pendidikan"),
}


@pytest.mark.parametrize("field", list(EDITS))
async def test_every_field_can_be_edited_with_before_and_after(world: World, field: str) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    before = getattr(await _idea(world, idea_id), EDITS[field][1])
    await chat.press("asn", f"/ideku {idea_id} ubah")
    assert ID("owner.ask_field", id=idea_id) in chat.text("asn")
    await chat.press("asn", f"oedit:{field}")
    assert ID("intake.current_value", value="").split(":")[0] in chat.text("asn")
    (how, value), column, stored = EDITS[field]
    replies = await (chat.say if how == "say" else chat.press)("asn", value)
    confirm = replies[-1]
    assert confirm.text.startswith(
        ID("owner.edit_confirm", id=idea_id, field=ID(f"field.{field}"), before="", after="")[:30]
    )
    assert [c.payload for c in confirm.choices] == ["oedit:save", "oedit:again", "oedit:cancel"]
    replies = await chat.press("asn", "oedit:save")
    assert replies[0].text == ID("owner.saved", field=ID(f"field.{field}"))
    assert getattr(await _idea(world, idea_id), column) == stored
    [entry] = await _audit(world, "idea.edit")
    assert (entry.subject, entry.before, entry.after) == (
        f"idea:{idea_id}",
        {field: before},
        {field: stored},
    )
    assert entry.actor_id == world.users["asn"]


async def test_the_confirmation_shows_before_and_after(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:budget")
    replies = await chat.say("asn", "1,5 miliar")
    assert replies[-1].text == ID(
        "owner.edit_confirm",
        id=idea_id,
        field=ID("field.budget"),
        before="Rp50.000.000",
        after="Rp1.500.000.000",
    )


async def test_bad_values_are_refused_and_nothing_is_lost(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:name")
    assert (await chat.say("asn", "ab"))[0].text == ID("intake.name_too_short", minimum=3)
    assert (await chat.say("asn", "🙂🙂🙂🙂"))[0].text == ID("intake.name_too_short", minimum=3)
    replies = await chat.say("asn", "x" * 151)
    assert replies[0].text == ID("intake.too_long", limit="150", length="151")
    photo = Attachment(kind="photo", path=Path("/nonexistent/foto.jpg"), file_name="foto.jpg")
    assert (await chat.attach("asn", photo))[0].text == ID("input.text_expected")
    replies = await chat.say("asn", "x" * 4000)
    assert replies[0].text == ID("intake.too_long", limit="150", length=ID.number(4000))
    assert ID("intake.ask_name") in replies[-1].text  # the same question again
    await chat.say("asn", "/batal")
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:budget")
    assert (await chat.say("asn", "mahal sekali"))[0].text == ID("intake.budget_invalid")
    await chat.say("asn", "/batal")
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:digital")
    replies = await chat.say("asn", "mungkin")
    assert replies[0].text == ID("input.choose_option", last=2)
    await chat.press("asn", "digital:no")  # as it was
    replies = await chat.press("asn", "oedit:save")
    assert replies[0].text == ID("owner.unchanged")
    idea = await _idea(world, idea_id)
    assert (idea.name, idea.budget_estimate, idea.is_digital) == ("SI-JEMPOL", 50_000_000, False)
    assert await _audit(world, "idea.edit") == []


async def test_cancel_and_change_another_part(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:goal")
    await chat.say("asn", "Tujuan yang lain sama sekali.")
    replies = await chat.press("asn", "oedit:again")
    assert ID("owner.ask_field", id=idea_id) in replies[-1].text
    replies = await chat.press("asn", "oedit:cancel")
    assert replies[0].text == ID("owner.edit_cancelled")
    assert (await _idea(world, idea_id)).goal == "Meningkatkan cakupan layanan bagi warga."


async def test_an_edit_updates_the_similarity_index(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    similarity = chat.core.similarity
    found = await similarity.search("PUSTAKA KILAT", f"{LIBRARY_PROBLEM}\n{LIBRARY_IDEA}")
    assert f"idea:{idea_id}" not in [m.doc_id for m in found]
    for field, text in (("problem", LIBRARY_PROBLEM), ("idea", LIBRARY_IDEA)):
        await chat.press("asn", f"/ideku {idea_id} ubah")
        await chat.press("asn", f"oedit:{field}")
        await chat.say("asn", text)
        await chat.press("asn", "oedit:save")
    found = await similarity.search("PUSTAKA KILAT", f"{LIBRARY_PROBLEM}\n{LIBRARY_IDEA}")
    assert f"idea:{idea_id}" in [m.doc_id for m in found]


async def test_save_pressed_twice_saves_once(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:name")
    await chat.say("asn", "SI-JEMPOL BARU")
    await chat.press("asn", "oedit:save")
    replies = await chat.press("asn", "oedit:save")
    assert replies[0].text == ID("input.stale_button")
    assert len(await _audit(world, "idea.edit")) == 1


async def test_the_edit_button_pressed_twice_goes_back_to_the_edit(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    replies = await chat.press("asn", f"/ideku {idea_id} ubah")
    assert ID("flow.already_running") in chat.text("asn")
    assert ID("owner.ask_field", id=idea_id) in replies[-1].text


async def test_after_verification_the_buttons_politely_refuse(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.say("asn", f"/ideku {idea_id}")
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:name")
    await chat.say("asn", "SI-JEMPOL TERLAMBAT")
    await _update(world, idea_id, status=IdeaStatus.VERIFIED)  # a reviewer verified it meanwhile
    locked = ID("owner.locked", id=idea_id, status=ID("status.verified"))
    assert (await chat.press("asn", "oedit:save"))[0].text == locked
    # The buttons under the old detail refuse too, and a new detail no longer offers them.
    assert (await chat.press("asn", f"/ideku {idea_id} ubah"))[0].text == locked
    assert (await chat.press("asn", f"/ideku {idea_id} tarik"))[0].text == locked
    [detail] = await chat.say("asn", f"/ideku {idea_id}")
    assert detail.choices == ()
    idea = await _idea(world, idea_id)
    assert (idea.name, idea.status) == ("SI-JEMPOL", IdeaStatus.VERIFIED)
    assert await _audit(world, "idea.edit") == []


async def test_a_restart_mid_edit_resumes(world: World, settings: Settings) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:name")
    async with open_core(settings, migrate=False) as restarted:
        again = ChatDriver(restarted)
        replies = await again.say("asn", "SI-JEMPOL SETELAH RESTART")
        assert replies[0].text == ID("flow.welcome_back")
        assert ID("intake.ask_name") in replies[-1].text
        replies = await again.say("asn", "SI-JEMPOL SETELAH RESTART")
        assert "SI-JEMPOL SETELAH RESTART" in replies[-1].text
        await again.press("asn", "oedit:save")
    assert (await _idea(world, idea_id)).name == "SI-JEMPOL SETELAH RESTART"


async def test_an_edit_in_english(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.say("asn", "/language")
    await chat.pick("asn", "English")
    [detail] = await chat.say("asn", f"/myideas {idea_id}")
    assert [c.title for c in detail.choices] == [
        EN("owner.edit_button"),
        EN("owner.withdraw_button"),
    ]
    await chat.say("asn", f"/myideas {idea_id} edit")
    assert EN("owner.ask_field", id=idea_id) in chat.text("asn")


# -- withdrawing -------------------------------------------------------------------------------


async def test_withdrawing_asks_first_then_takes_the_idea_out(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    similarity = chat.core.similarity
    assert f"idea:{idea_id}" in [m.doc_id for m in await similarity.search("SI-JEMPOL", IDEA)]
    replies = await chat.press("asn", f"/ideku {idea_id} tarik")
    assert replies[-1].text == ID("owner.withdraw_confirm", id=idea_id, name="SI-JEMPOL")
    replies = await chat.press("asn", "owithdraw:yes")
    assert replies[0].text == ID("owner.withdrawn", id=idea_id, name="SI-JEMPOL")
    assert (await _idea(world, idea_id)).status is IdeaStatus.WITHDRAWN
    [entry] = await _audit(world, "idea.withdraw")
    assert (entry.before, entry.after) == ({"status": "submitted"}, {"status": "withdrawn"})
    assert f"idea:{idea_id}" not in [m.doc_id for m in await similarity.search("SI-JEMPOL", IDEA)]
    # Pressed again from the same message: nothing more happens.
    assert (await chat.press("asn", "owithdraw:yes"))[0].text == ID("input.stale_button")
    assert len(await _audit(world, "idea.withdraw")) == 1
    locked = ID("owner.locked", id=idea_id, status=ID("status.withdrawn"))
    assert (await chat.press("asn", f"/ideku {idea_id} tarik"))[0].text == locked
    # The OPD's coordinator is told through the outbox; the other OPD's is not.
    async with chat.core.database.sessions() as session:
        notes = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "idea_withdrawn")
            )
        )
    assert [n.recipient for n in notes] == ["coordinator"]
    told = ID("owner.told_withdrawn", id=idea_id, name="SI-JEMPOL", owner="Rina Marlina")
    assert notes[0].payload["replies"][0]["text"] == told


async def test_withdrawing_can_be_called_off(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} tarik")
    assert (await chat.say("asn", "hmm"))[0].text == ID("input.choose_option", last=2)
    replies = await chat.press("asn", "owithdraw:no")
    assert replies[0].text == ID("owner.withdraw_kept")
    assert (await _idea(world, idea_id)).status is IdeaStatus.SUBMITTED
    assert (await _idea(world, idea_id)).stage is Stage.DIAGNOSE


async def test_a_withdrawn_idea_leaves_the_list_but_its_detail_stays(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.press("asn", f"/ideku {idea_id} tarik")
    await chat.press("asn", "owithdraw:yes")
    assert (await chat.say("asn", "/ideku"))[0].text == ID("my_ideas.none")
    [detail] = await chat.say("asn", f"/ideku {idea_id}")
    assert f"{ID('field.status')}: {ID('status.withdrawn')}" in detail.text
    assert detail.choices == ()


async def test_the_detail_during_another_conversation_names_the_commands(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await chat.say("asn", "/ide")
    await chat.say("asn", "PUSTAKA KILAT")
    replies = await chat.say("asn", f"/ideku {idea_id}")
    # Its buttons would compete with the pending question, so the hint names the commands.
    assert ID("owner.actions_hint", id=idea_id) in replies[0].text
    assert replies[0].choices == ()
    assert replies[-1].text == ID("intake.ask_problem")
    await chat.say("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:goal")
    await chat.say("asn", "Tujuan baru yang lebih jelas.")
    replies = await chat.press("asn", "oedit:save")
    assert replies[-1].text == ID("intake.ask_problem")  # the draft underneath carries on
    await chat.say("asn", LIBRARY_PROBLEM)
    assert chat.last["asn"][-1].text == ID("intake.ask_idea")


async def test_a_long_before_and_after_fit_one_message(world: World) -> None:
    chat = world.chat
    idea_id = await _submit(world)
    await _update(world, idea_id, problem="Masalah panjang. " * 230)
    await chat.press("asn", f"/ideku {idea_id} ubah")
    await chat.press("asn", "oedit:problem")
    replies = await chat.say("asn", "Masalah baru yang juga panjang. " * 120)
    assert len(replies[-1].text) < 4096
    await chat.press("asn", "oedit:save")
    stored = (await _idea(world, idea_id)).problem
    assert stored == ("Masalah baru yang juga panjang. " * 120).strip()  # kept whole
