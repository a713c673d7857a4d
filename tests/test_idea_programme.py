"""A new idea belongs to the current programme (issue 11)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from storage.models import Idea, Programme, ProgrammeStage, Stage
from tests.chat import ChatDriver

PROBLEM = "Antrean di loket perpustakaan daerah panjang saat jam istirahat sekolah."
IDEA = "Peminjaman buku mandiri dengan kartu anggota ber-QR di mesin swalayan."


async def test_a_new_idea_joins_the_programme(chat: ChatDriver) -> None:
    # With one programme it is the current one whatever today is (running, next or last).
    async with chat.core.database.sessions() as session, session.begin():
        programme = Programme(name="Laboratorium Inovasi 2027")
        programme.stages.append(
            ProgrammeStage(stage=Stage.DRUM_UP, starts=date(2027, 1, 4), ends=date(2027, 2, 26))
        )
        session.add(programme)
    await chat.register("rina")
    await chat.submit_idea("rina", "PUSTAKA KILAT", PROBLEM, IDEA)
    async with chat.core.database.sessions() as session:
        [idea] = list((await session.scalars(select(Idea))).unique())
        assert idea.programme_id == programme.id


async def test_without_a_programme_an_idea_has_none(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.submit_idea("rina", "PUSTAKA KILAT", PROBLEM, IDEA)
    async with chat.core.database.sessions() as session:
        [idea] = list((await session.scalars(select(Idea))).unique())
        assert idea.programme_id is None
