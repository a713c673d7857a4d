"""Menus opened in the middle of a form never cost the form anything."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Idea, Opd, utcnow
from tests.chat import ID, ChatDriver

PROBLEM = "Antrean panjang di loket perpustakaan saat jam istirahat."
IDEA = "Peminjaman buku mandiri dengan kartu anggota ber-QR."


async def _at_digital_question(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA", PROBLEM, IDEA, "Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    assert chat.last["rina"][-1].text == ID("intake.ask_digital")


async def test_batal_in_an_open_menu_closes_only_the_menu(chat: ChatDriver) -> None:
    await _at_digital_question(chat)
    await chat.say("rina", "/bahasa")
    replies = await chat.say("rina", "/batal")
    assert [r.text for r in replies] == [ID("flow.menu_closed"), ID("intake.ask_digital")]
    # The draft is whole: a second /batal is what drops it.
    replies = await chat.say("rina", "/batal")
    assert replies[0].text == ID("flow.cancelled")


async def test_the_pending_questions_buttons_work_under_an_open_menu(chat: ChatDriver) -> None:
    await _at_digital_question(chat)
    async with chat.core.database.sessions() as session, session.begin():
        opd = await session.scalar(select(Opd))
        assert opd is not None
        session.add(Idea(name="LAMA", problem="p" * 12, idea="i" * 12, owner_id=1, opd_id=opd.id))
    await chat.say("rina", "/ideku")
    replies = await chat.press("rina", "digital:yes")
    assert replies[-1].text == ID("intake.ask_form")


async def test_typed_numbers_match_the_numbers_shown_on_every_page(chat: ChatDriver) -> None:
    await chat.register("rina")
    async with chat.core.database.sessions() as session, session.begin():
        opd = await session.scalar(select(Opd))
        assert opd is not None
        for n in range(12):
            session.add(
                Idea(
                    name=f"IDE{n:02}",
                    problem="p" * 12,
                    idea="i" * 12,
                    owner_id=1,
                    opd_id=opd.id,
                    created_at=utcnow(),
                )
            )
    await chat.say("rina", "/ideku")
    await chat.press("rina", "page:next")
    listing = chat.last["rina"][-1]
    first_line = next(line for line in listing.text.splitlines() if line.startswith("1. "))
    idea_id = first_line.split("#", 1)[1].split(" ", 1)[0]
    replies = await chat.say("rina", "1")
    assert replies[0].text.startswith(ID("my_ideas.detail_title", id=idea_id, name="")[:6])
    assert f"#{idea_id}" in replies[0].text


async def test_help_offers_the_main_menu_by_number(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/bantuan")
    replies = await chat.say("rina", "1")  # "Ajukan ide"
    assert replies[-1].text == ID("intake.ask_name")


async def test_typing_a_choices_own_words_answers_like_its_button(chat: ChatDriver) -> None:
    await _at_digital_question(chat)
    await chat.say("rina", "non-digital")
    await chat.say("rina", "Pelayanan Publik")
    await chat.say("rina", "perpustakaan")
    await chat.say("rina", "asn")
    await chat.say("rina", "OPD lain")
    await chat.say("rina", "kesehatan")  # a search
    await chat.say("rina", "dinkes")  # the OPD's short name, as on its button
    replies = await chat.say("rina", "lewati")
    assert replies[-1].text == ID("intake.ask_attachments")
    await chat.say("rina", "Selesai")
    await chat.say("rina", "simpan")
    async with chat.core.database.sessions() as session:
        idea = await session.scalar(select(Idea))
    assert idea is not None
    assert (idea.is_digital, idea.form, idea.initiator, idea.budget_estimate) == (
        False,
        "pelayanan_publik",
        "asn",
        None,
    )
    assert idea.opd is not None and idea.opd.short_name == "Dinkes"
