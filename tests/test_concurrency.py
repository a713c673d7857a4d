"""Two messages of one person at once, and two copies of SASI on one database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.app import open_core
from bot.config import Settings
from storage.models import Idea, User
from tests.chat import ID, ChatDriver

PROBLEM = "Lampu penerangan jalan umum padam berminggu-minggu tanpa pencatatan kerusakan."
IDEA = "Warga melaporkan lampu jalan mati lewat WhatsApp dengan foto dan lokasi ke petugas."


async def _at_summary(chat: ChatDriver, person: str = "rina") -> None:
    await chat.say(person, "/ide")
    for text in ("PJU CEPAT", PROBLEM, IDEA, "Tujuan", "Manfaat", "Warga"):
        await chat.say(person, text)
    for payload in ("digital:yes", "form:pelayanan_publik"):
        await chat.press(person, payload)
    await chat.say(person, "perhubungan")
    for payload in ("initiator:asn", "opd:own", "budget:skip", "attach:done"):
        await chat.press(person, payload)


async def test_save_pressed_twice_at_once_saves_one_idea(chat: ChatDriver) -> None:
    await chat.register("rina")
    await _at_summary(chat)
    first, second = await asyncio.gather(
        chat.press("rina", "summary:save"), chat.press("rina", "summary:save")
    )
    texts = [first[0].text, second[0].text]
    assert sum(ID("input.stale_button") == t for t in texts) == 1
    async with chat.core.database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Idea)) == 1


async def test_a_burst_of_answers_is_taken_one_at_a_time(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "PJU CEPAT")
    bursts = await asyncio.gather(
        *(chat.say("rina", t) for t in (PROBLEM, IDEA, "Tujuan yang jelas dan terukur"))
    )
    # Each answer (valid for any of the three questions) was taken exactly once, one after
    # the other, whatever the order.
    assert all(replies and ID("error.internal") not in replies[0].text for replies in bursts)
    replies = await chat.say("rina", "Manfaat yang nyata")
    assert replies[-1].text == ID("intake.ask_beneficiaries")


async def test_two_processes_warn_about_each_others_ideas(
    chat: ChatDriver, settings: Settings
) -> None:
    async with open_core(settings, migrate=False) as other_process:
        other = ChatDriver(other_process)
        await chat.register("rina")
        await other.register(
            "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
        )
        await _at_summary(chat)
        await chat.press("rina", "summary:save")
        # Budi talks to the other copy, which started before Rina's idea existed.
        await other.say("budi", "/ide")
        await other.say("budi", "LAMPU KITA")
        await other.say("budi", PROBLEM)
        replies = await other.say("budi", IDEA)
        assert "PJU CEPAT" in replies[-1].text


async def test_two_processes_registering_one_nip_at_once(
    chat: ChatDriver, settings: Settings
) -> None:
    async with open_core(settings, migrate=False) as other_process:
        other = ChatDriver(other_process)
        for driver, person in ((chat, "a"), (other, "b")):
            await driver.say(person, "/mulai")
            await driver.say(person, "Rina Marlina")
            await driver.say(person, "199107082019032012")
            await driver.say(person, "kesehatan")
            await driver.pick(person, "Dinkes")
        await asyncio.gather(chat.say("a", "Analis"), other.say("b", "Analis"))
        async with chat.core.database.sessions() as session:
            registered = await session.scalar(
                select(func.count()).select_from(User).where(User.registered_at.is_not(None))
            )
        assert registered == 1
        answers = chat.text("a") + other.text("b")
        assert ID("registration.nip_taken_meanwhile") in answers
        assert ID("error.internal") not in answers


async def test_one_persons_answers_to_two_processes_at_once_are_all_taken(
    chat: ChatDriver, settings: Settings
) -> None:
    if chat.core.database.is_sqlite:
        pytest.skip("SQLite has one writer at a time: two processes cannot interleave here")
    async with open_core(settings, migrate=False) as other_process:
        other = ChatDriver(other_process)
        await chat.register("rina")
        await chat.say("rina", "/ide")
        await chat.say("rina", "PJU CEPAT")
        # Each copy of SASI locks Rina's row in turn; the one that waited must see what the
        # other saved, not the state from before it (and never write over it).
        bursts = await asyncio.gather(
            chat.say("rina", PROBLEM),
            other.say("rina", IDEA),
            chat.say("rina", "Tujuan yang jelas dan terukur"),
            other.say("rina", "Manfaat yang nyata"),
        )
        assert all(replies and ID("error.internal") not in replies[0].text for replies in bursts)
        # Four answers taken: the form has reached the fifth question, beneficiaries.
        replies = await chat.say("rina", "Warga desa")
        assert replies[-1].text.startswith(ID("intake.ask_digital")[:30])
