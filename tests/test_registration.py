"""Registration through the engine: name, NIP, OPD by search, position."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import User
from tests.chat import ID, ChatDriver


async def test_a_newcomer_registers_step_by_step(chat: ChatDriver) -> None:
    replies = await chat.say("rina", "/mulai")
    assert replies[0].text == ID("registration.welcome")
    assert replies[-1].text == ID("registration.ask_name")

    await chat.say("rina", "Rina Marlina, S.Kom.")
    assert chat.text("rina") == ID("registration.ask_nip")

    await chat.say("rina", "19910708 201903 2 012")
    assert chat.text("rina") == ID("registration.ask_opd")

    await chat.say("rina", "kesehatan")
    titles = [c.title for c in chat.choices("rina")]
    assert "Dinkes" in titles

    await chat.pick("rina", "Dinkes")
    assert chat.text("rina") == ID("registration.ask_position")

    await chat.say("rina", "Pranata Komputer Ahli Pertama")
    assert ID("registration.done", name="Rina Marlina, S.Kom.") in chat.text("rina")

    async with chat.core.database.sessions() as session:
        user = await session.scalar(select(User).where(User.nip == "199107082019032012"))
    assert user is not None
    assert user.full_name == "Rina Marlina, S.Kom."
    assert user.opd is not None and user.opd.short_name == "Dinkes"
    assert user.position == "Pranata Komputer Ahli Pertama"
    assert user.is_registered


async def test_any_first_message_starts_registration(chat: ChatDriver) -> None:
    replies = await chat.say("budi", "halo")
    assert replies[0].text == ID("registration.welcome")
    assert replies[-1].text == ID("registration.ask_name")


async def test_a_typed_number_picks_the_opd(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    await chat.say("budi", "198503142010011004")
    await chat.say("budi", "dukcapil")
    assert chat.choices("budi")[0].title == "Disdukcapil"
    await chat.say("budi", "1")
    assert chat.text("budi") == ID("registration.ask_position")


async def test_a_misspelt_opd_is_still_found(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    await chat.say("budi", "198503142010011004")
    await chat.say("budi", "kependudukn")
    assert "Disdukcapil" in [c.title for c in chat.choices("budi")]


async def test_an_unknown_opd_is_asked_again(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    await chat.say("budi", "198503142010011004")
    replies = await chat.say("budi", "zzzqqq")
    assert replies[0].text == ID("opd.not_found", query="zzzqqq")
    assert replies[-1].text == ID("registration.ask_opd")


async def test_a_broad_opd_search_is_paged_within_ten_choices(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    await chat.say("budi", "198503142010011004")
    await chat.say("budi", "dinas")
    first = chat.choices("budi")
    assert len(first) <= 10
    assert any(c.payload == "page:next" for c in first)
    await chat.press("budi", "page:next")
    second = chat.choices("budi")
    assert len(second) <= 10
    assert {c.payload for c in second if c.payload.startswith("opd:")} != {
        c.payload for c in first if c.payload.startswith("opd:")
    }
    assert any(c.payload == "page:prev" for c in second)


async def test_registered_person_sees_who_they_are_on_mulai(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/start")
    assert "Rina Marlina" in chat.text("rina")
    assert "Dinas Kesehatan" in chat.text("rina")


async def test_the_same_nip_cannot_be_registered_from_a_terminal_twice(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("tiruan", "/mulai")
    await chat.say("tiruan", "Rina Palsu")
    replies = await chat.say("tiruan", "199107082019032012")
    # Rina's only identity is a terminal one, which cannot receive a code: refuse plainly.
    assert replies[0].text == ID("link.unreachable")


async def test_batal_during_registration_says_what_to_do_next(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    replies = await chat.say("budi", "/batal")
    assert replies[0].text == ID("flow.cancelled")
    assert replies[-1].text == ID("registration.start_again")
    assert [c.payload for c in replies[-1].choices] == ["/mulai"]
    replies = await chat.press("budi", "/mulai")
    assert replies[-1].text == ID("registration.ask_name")


async def test_a_nip_registered_elsewhere_is_explained_and_can_be_retyped(
    chat: ChatDriver,
) -> None:
    await chat.register("rina")
    await chat.say("tiruan", "/mulai")
    await chat.say("tiruan", "Rina Palsu")
    replies = await chat.say("tiruan", "199107082019032012")
    text = replies[0].text
    assert "tidak dapat dihubungi untuk verifikasi" not in text  # the old, opaque wording
    assert "akun lain" in text and "Bappeda" in text and "NIP yang benar" in text
    assert replies[-1].text == ID("registration.ask_nip")
    await chat.say("tiruan", "198503142010011004")  # her own NIP after all
    assert chat.text("tiruan") == ID("registration.ask_opd")


async def test_a_number_beyond_the_opd_list_names_the_range(chat: ChatDriver) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    await chat.say("budi", "198503142010011004")
    await chat.say("budi", "dukcapil")
    shown = len(chat.choices("budi"))
    replies = await chat.say("budi", "9")
    assert replies[0].text == ID("opd.number_out_of_range", number="9", last=shown)
    assert len(chat.choices("budi")) == shown  # the same list, still there
    await chat.say("budi", "1")
    assert chat.text("budi") == ID("registration.ask_position")
