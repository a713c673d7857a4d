"""Bad input gets a clear answer and loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.messages import Attachment, Incoming
from storage.models import Idea, User
from tests.chat import EN, ID, ChatDriver


async def _in_intake(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")


async def test_empty_and_blank_messages_are_asked_again(chat: ChatDriver) -> None:
    await _in_intake(chat)
    for blank in ("", "   ", "\n\t", None):
        replies = await chat.say("rina", blank)
        assert [r.text for r in replies] == [ID("input.text_expected"), ID("intake.ask_name")]


async def test_a_4000_character_answer_is_kept_whole(chat: ChatDriver) -> None:
    await _in_intake(chat)
    await chat.say("rina", "SI-PANJANG")
    long_problem = ("Warga menunggu terlalu lama di loket. " * 110)[:4000].strip()
    replies = await chat.say("rina", long_problem)
    assert replies[-1].text == ID("intake.ask_idea")
    await chat.say("rina", "Antrean daring dengan nomor urut lewat pesan singkat.")
    for text in ("Tujuan", "Manfaat", "Warga"):
        await chat.say("rina", text)
    for payload in ("digital:yes", "form:pelayanan_publik"):
        await chat.press("rina", payload)
    await chat.say("rina", "kesehatan")
    for payload in ("initiator:asn", "opd:own", "budget:skip", "attach:done", "summary:save"):
        await chat.press("rina", payload)
    async with chat.core.database.sessions() as session:
        idea = await session.scalar(select(Idea))
    assert idea is not None and idea.problem == long_problem


async def test_a_message_over_the_channel_limit_is_refused_politely(chat: ChatDriver) -> None:
    await _in_intake(chat)
    replies = await chat.say("rina", "x" * 5000)
    assert replies[0].text == ID("input.too_long", limit="4.096")  # Indonesian grouping
    assert replies[-1].text == ID("intake.ask_name")


async def test_a_name_too_long_is_explained(chat: ChatDriver) -> None:
    await _in_intake(chat)
    replies = await chat.say("rina", "SI-" + "A" * 200)
    assert replies[0].text == ID("intake.too_long", limit=150, length=203)


async def test_emoji_and_markup_characters_are_stored_as_typed(chat: ChatDriver) -> None:
    await chat.say("x", "/mulai")
    await chat.say("x", "<b>Rina</b> *Marlina* 🌟")
    await chat.say("x", "199107082019032012")
    await chat.say("x", "kesehatan")
    await chat.pick("x", "Dinkes")
    replies = await chat.say("x", "Pranata <i>Komputer</i> & _Ahli_")
    assert "<b>Rina</b> *Marlina* 🌟" in replies[0].text
    async with chat.core.database.sessions() as session:
        user = await session.scalar(select(User).where(User.nip == "199107082019032012"))
    assert user is not None
    assert user.full_name == "<b>Rina</b> *Marlina* 🌟"
    assert user.position == "Pranata <i>Komputer</i> & _Ahli_"


async def test_control_characters_are_removed(chat: ChatDriver) -> None:
    await chat.say("x", "/mulai")
    await chat.say("x", "Rina\x00 Marlina\x07")
    await chat.say("x", "199107082019032012")
    await chat.say("x", "kesehatan")
    await chat.pick("x", "Dinkes")
    await chat.say("x", "Analis")
    async with chat.core.database.sessions() as session:
        user = await session.scalar(select(User).where(User.nip == "199107082019032012"))
    assert user is not None and user.full_name == "Rina Marlina"


async def test_a_name_of_only_symbols_is_refused(chat: ChatDriver) -> None:
    await chat.say("x", "/mulai")
    replies = await chat.say("x", "!!! ???")
    assert replies[0].text == ID("registration.name_invalid")


async def test_a_sticker_is_answered_and_the_question_stays(chat: ChatDriver) -> None:
    await _in_intake(chat)
    await chat.say("rina", "SI-JEMPOL")
    replies = await chat.send(
        "rina", Incoming(channel="terminal", sender_id="rina", unsupported="sticker")
    )
    assert [r.text for r in replies] == [ID("input.unsupported"), ID("intake.ask_problem")]


async def test_a_photo_where_text_was_asked_is_refused(chat: ChatDriver, tmp_path: Path) -> None:
    await _in_intake(chat)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    replies = await chat.attach("rina", Attachment("photo", photo, "a.jpg"))
    assert [r.text for r in replies] == [ID("input.text_expected"), ID("intake.ask_name")]


async def test_a_file_too_large_is_explained(chat: ChatDriver) -> None:
    await _in_intake(chat)
    replies = await chat.send(
        "rina", Incoming(channel="terminal", sender_id="rina", too_large=True)
    )
    assert [r.text for r in replies] == [ID("input.too_large"), ID("intake.ask_name")]


async def test_a_button_pressed_twice_acts_once(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA", "Antrean panjang di loket.", "Peminjaman mandiri dengan QR.", "Tujuan"):
        await chat.say("rina", text)
    await chat.say("rina", "Manfaat")
    await chat.say("rina", "Siswa")
    await chat.press("rina", "digital:yes")
    replies = await chat.press("rina", "digital:yes")
    assert replies[0].text == ID("input.stale_button")
    assert replies[-1].text == ID("intake.ask_form")


async def test_a_button_from_an_old_message_is_refused(chat: ChatDriver) -> None:
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina Marlina")
    await chat.say("rina", "199107082019032012")
    await chat.say("rina", "kesehatan")
    old_opd_button = chat.payload("rina", "Dinkes")
    await chat.press("rina", old_opd_button)
    await chat.say("rina", "Analis")
    # Registered; the OPD list is an old message now. Its button does nothing but say so.
    replies = await chat.press("rina", old_opd_button)
    assert replies[0].text == ID("input.stale_button")
    assert replies[-1].choices  # the main menu, so the person can go on


async def test_a_forged_button_is_refused(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.press("rina", "summary:save")
    assert replies[0].text == ID("input.stale_button")


async def test_a_typed_number_out_of_range_is_not_a_choice(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA", "Antrean panjang di loket.", "Peminjaman mandiri dengan QR."):
        await chat.say("rina", text)
    for text in ("Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    replies = await chat.say("rina", "7")
    assert [r.text for r in replies] == [
        ID("input.choose_option", last=2),
        ID("intake.ask_digital"),
    ]


async def test_an_unknown_command_is_explained(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.say("rina", "/terbang")
    assert replies[0].text == ID("command.unknown", command="/terbang")


async def test_another_command_mid_intake_keeps_the_draft(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "PUSTAKA KILAT")
    replies = await chat.say("rina", "/bantuan")
    assert replies[0].text.startswith(ID("help.registered"))
    assert replies[-1].text == ID("intake.ask_problem")
    replies = await chat.say("rina", "/ide")
    assert replies[0].text == ID("intake.intro")
    assert ID("flow.already_running") in chat.text("rina")
    assert replies[-1].text == ID("intake.ask_problem")


async def test_digits_that_are_not_ascii_are_not_choices(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA", "Antrean panjang di loket.", "Peminjaman mandiri dengan QR."):
        await chat.say("rina", text)
    for text in ("Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    for odd in ("²", "٣", "１", "0001"):
        replies = await chat.say("rina", odd)
        assert [r.text for r in replies] == [
            ID("input.choose_option", last=2),
            ID("intake.ask_digital"),
        ]


async def test_odd_idea_numbers_are_answered_not_crashed_on(chat: ChatDriver) -> None:
    await chat.register("rina")
    assert (await chat.say("rina", "/ideku ²"))[0].text == ID("my_ideas.bad_id")
    for number in ("99999999999", "0", "2147483648", "9" * 40):
        replies = await chat.say("rina", f"/ideku {number}")
        assert replies[0].text == ID("my_ideas.not_yours"), number


async def test_refusing_a_typed_word_names_the_numbers_to_type(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA", "Antrean panjang di loket.", "Peminjaman mandiri dengan QR."):
        await chat.say("rina", text)
    for text in ("Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    await chat.press("rina", "digital:yes")
    replies = await chat.say("rina", "entahlah")
    assert replies[0].text == ID("input.choose_option", last=3)
    assert "1–3" in replies[0].text


async def test_a_step_failure_is_reported_in_the_persons_language(
    chat: ChatDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await chat.register("rina")
    await chat.say("rina", "/bahasa en")

    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(chat.core.engine, "_converse", broken)
    replies = await chat.say("rina", "/ide")
    assert [r.text for r in replies] == [EN("error.internal")]
