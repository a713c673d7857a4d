"""Shared by the /rencana, /lapor and /jadwal tests: a fixed clock and rows put in directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.app import Core, open_core
from bot.config import Settings
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaCollaborator,
    Identity,
    MonitoringReport,
    Programme,
    ProgrammeStage,
    Stage,
)

# 10 March 2027, 10:00 in Jakarta: the Design stage of the programme below.
NOW = datetime(2027, 3, 10, 3, 0, tzinfo=UTC)
BUDI_NIP = "198503152010011003"

PROBLEM = (
    "Banyak warga lanjut usia dan penyandang disabilitas belum merekam KTP elektronik karena "
    "tidak mampu datang ke kantor Disdukcapil."
)
IDEA = (
    "Petugas Disdukcapil mendatangi rumah warga lansia dan penyandang disabilitas dengan alat "
    "perekaman KTP elektronik portabel, sesuai jadwal yang didaftarkan lewat RT."
)
OTHER_PROBLEM = "Antrean di loket perpustakaan daerah panjang saat jam istirahat sekolah."
OTHER_IDEA = "Peminjaman buku mandiri dengan kartu anggota ber-QR di mesin swalayan."

LAB_2027 = {
    Stage.DRUM_UP: (date(2027, 1, 4), date(2027, 1, 29)),
    Stage.DIAGNOSE: (date(2027, 2, 1), date(2027, 2, 26)),
    Stage.DESIGN: (date(2027, 3, 1), date(2027, 5, 31)),
    Stage.DELIVER: (date(2027, 6, 1), date(2027, 10, 29)),
    Stage.DISPLAY: (date(2027, 11, 1), date(2027, 11, 30)),
}


def fixed_clock() -> datetime:
    return NOW


@asynccontextmanager
async def core_at_now(settings: Settings) -> AsyncIterator[Core]:
    """The real core whose clock always says :data:`NOW`, with the demo Pemda's OPDs."""
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv

    async with open_core(settings, migrate=False, clock=fixed_clock) as core:
        await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        yield core


async def latest_idea_id(core: Core) -> int:
    async with core.database.sessions() as session:
        idea_id = await session.scalar(select(Idea.id).order_by(Idea.id.desc()).limit(1))
    assert idea_id is not None
    return idea_id


async def set_stage(core: Core, idea_id: int, stage: Stage) -> None:
    async with core.database.sessions() as session, session.begin():
        idea = await session.get(Idea, idea_id)
        assert idea is not None
        idea.stage = stage


async def user_id_of(core: Core, person: str) -> int:
    async with core.database.sessions() as session:
        user_id = await session.scalar(
            select(Identity.user_id).where(Identity.external_id == person)
        )
    assert user_id is not None
    return user_id


async def add_collaborator(core: Core, idea_id: int, person: str) -> None:
    user_id = await user_id_of(core, person)
    async with core.database.sessions() as session, session.begin():
        session.add(IdeaCollaborator(idea_id=idea_id, user_id=user_id))


async def add_programme(
    core: Core,
    name: str = "Laboratorium Inovasi 2027",
    dates: dict[Stage, tuple[date, date]] = LAB_2027,
) -> None:
    async with core.database.sessions() as session, session.begin():
        session.add(
            Programme(
                name=name,
                stages=[ProgrammeStage(stage=s, starts=a, ends=b) for s, (a, b) in dates.items()],
            )
        )


async def add_milestone(core: Core, idea_id: int, month: date, activity: str) -> None:
    async with core.database.sessions() as session, session.begin():
        session.add(ActionPlanItem(idea_id=idea_id, month=month, activity=activity))


async def milestones(core: Core, idea_id: int) -> list[tuple[date, str]]:
    async with core.database.sessions() as session:
        rows = await session.scalars(
            select(ActionPlanItem)
            .where(ActionPlanItem.idea_id == idea_id)
            .order_by(ActionPlanItem.month, ActionPlanItem.id)
        )
        return [(r.month, r.activity) for r in rows]


async def idea_row(core: Core, idea_id: int) -> Idea:
    async with core.database.sessions() as session:
        idea = await session.get(Idea, idea_id)
    assert idea is not None
    return idea


async def reports(core: Core) -> list[MonitoringReport]:
    async with core.database.sessions() as session:
        rows = await session.scalars(select(MonitoringReport).order_by(MonitoringReport.id))
        return list(rows)
