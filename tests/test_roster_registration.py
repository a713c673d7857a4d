"""A person whose NIP is on the ASN roster: the roster's OPD is offered, a different name shown."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Opd, RosterEntry, User
from tests.chat import ID, ChatDriver

NIP = "199107082019032012"


async def put_on_roster(chat: ChatDriver, name: str, opd_short: str) -> None:
    database = chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        opd = await session.scalar(select(Opd).where(Opd.short_name == opd_short))
        assert opd is not None
        session.add(RosterEntry(nip=NIP, full_name=name, opd_id=opd.id, position="Staf"))


async def registered(chat: ChatDriver) -> User:
    async with chat.core.database.sessions() as session:
        user = await session.scalar(select(User).where(User.nip == NIP))
        assert user is not None
        return user


async def test_the_rosters_opd_is_offered_and_taken_with_one_press(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Rina Marlina, S.Kom", "Dinkes")
    await chat.say("rina", "/mulai")
    await chat.say("rina", "rina marlina")  # titles and case do not make another person
    replies = await chat.say("rina", NIP)
    assert replies[-1].text == ID("registration.roster_opd", opd="Dinas Kesehatan")
    await chat.pick("rina", ID("registration.roster_opd_yes"))
    await chat.say("rina", "Pranata Komputer")
    user = await registered(chat)
    assert user.full_name == "rina marlina"
    assert user.opd is not None and user.opd.short_name == "Dinkes"


async def test_a_different_name_is_shown_and_the_person_chooses(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Rina Marlina Sari", "Dinkes")
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina M.")
    replies = await chat.say("rina", NIP)
    assert replies[-1].text == ID(
        "registration.roster_name", roster="Rina Marlina Sari", typed="Rina M."
    )
    # Neither name is taken silently: a typed answer that is no choice is refused.
    replies = await chat.say("rina", "terserah")
    assert replies[0].text == ID("input.choose_option", last=2)
    await chat.pick("rina", "Rina Marlina Sari")
    await chat.pick("rina", ID("registration.roster_opd_yes"))
    await chat.say("rina", "Pranata Komputer")
    assert (await registered(chat)).full_name == "Rina Marlina Sari"


async def test_keeping_the_typed_name_leaves_the_roster_as_it_was(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Rina Marlina Sari", "Dinkes")
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina M.")
    await chat.say("rina", NIP)
    await chat.pick("rina", ID("registration.keep_typed_name", name="Rina M."))
    await chat.pick("rina", ID("registration.roster_opd_yes"))
    await chat.say("rina", "Pranata Komputer")
    assert (await registered(chat)).full_name == "Rina M."
    async with chat.core.database.sessions() as session:
        entry = await session.scalar(select(RosterEntry))
        assert entry is not None and entry.full_name == "Rina Marlina Sari"


async def test_another_opd_than_the_rosters_can_be_chosen(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Rina Marlina", "Dinkes")
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina Marlina")
    await chat.say("rina", NIP)
    await chat.pick("rina", ID("registration.roster_opd_other"))
    assert ID("registration.ask_opd") in chat.text("rina")
    await chat.say("rina", "kependudukan")
    await chat.pick("rina", "Disdukcapil")
    await chat.say("rina", "Pranata Komputer")
    user = await registered(chat)
    assert user.opd is not None and user.opd.short_name == "Disdukcapil"


async def test_typing_an_opd_instead_of_confirming_searches_for_it(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Rina Marlina", "Dinkes")
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina Marlina")
    await chat.say("rina", NIP)
    await chat.say("rina", "kependudukan")
    await chat.pick("rina", "Disdukcapil")
    assert ID("registration.ask_position") in chat.text("rina")


async def test_a_nip_off_the_roster_registers_as_before(chat: ChatDriver) -> None:
    await put_on_roster(chat, "Orang Lain", "Dinkes")
    await chat.register("budi", name="Budi Santoso", nip="198503152010011003")
