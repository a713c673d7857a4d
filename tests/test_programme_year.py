"""A whole programme year, day by day, with an injected clock (issue 11).

Laboratorium Inovasi 2027, two ASN with an idea each and their OPD's coordinator. Rina does
each step on time; Budi never does. Every day the scheduler ticks and the outbox sends at
a few hours of the day, and the core is restarted between every two days. What goes out is
recorded with the moment it went: each reminder and prompt exactly once, only on working
days outside quiet hours, nothing to one who did the step.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import Core, open_core
from bot.calendar.working_time import WorkingTime
from bot.config import Settings
from handlers.messages import Reply, TemplateCall
from handlers.ports import SimilarityService
from storage.models import (
    ActionPlanItem,
    Idea,
    MonitoringReport,
    Programme,
    ProgrammeStage,
    Role,
    Stage,
    User,
    UserRole,
)
from storage.outbox import OutboxMessage, OutboxState
from tests.chat import ChatDriver

WIB = ZoneInfo("Asia/Jakarta")
TICK_HOURS = (7, 9, 21)  # local hours at which the scheduler and the sender run (21: quiet)
STAGES = {
    Stage.DRUM_UP: (date(2027, 1, 4), date(2027, 1, 29)),
    Stage.DIAGNOSE: (date(2027, 2, 1), date(2027, 3, 31)),
    Stage.DESIGN: (date(2027, 4, 1), date(2027, 5, 31)),
    Stage.DELIVER: (date(2027, 6, 1), date(2027, 11, 30)),
    Stage.DISPLAY: (date(2027, 12, 1), date(2027, 12, 17)),
}
DELIVER_MONTHS = ("2027-06", "2027-07", "2027-08", "2027-09", "2027-10", "2027-11")


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: date, hour: int, minute: int = 0) -> None:
        self.now = datetime.combine(day, time(hour, minute), tzinfo=WIB).astimezone(UTC)


@dataclass
class Inbox:
    """The terminal's sending side, recording what arrives and when."""

    clock: Clock
    got: list[tuple[datetime, str, str]] = field(default_factory=list)

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.got.append((self.clock.now, external_id, replies[0].text))


@dataclass
class Process:
    """Starts cores as fresh processes would, on the same database; the similarity index
    (built from the database at every start, and not what this test is about) is kept."""

    settings: Settings
    clock: Clock
    inbox: Inbox
    similarity: SimilarityService | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Core]:
        async with open_core(
            self.settings, migrate=False, clock=self.clock, similarity=self.similarity
        ) as core:
            self.similarity = core.similarity
            core.register_sender("terminal", self.inbox)
            yield core


async def _setting_up(core: Core, clock: Clock) -> dict[str, int]:
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv

    await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
    async with core.database.sessions() as session, session.begin():
        session.add(
            Programme(
                name="Laboratorium Inovasi 2027",
                stages=[ProgrammeStage(stage=s, starts=a, ends=b) for s, (a, b) in STAGES.items()],
            )
        )
    clock.set(date(2027, 2, 10), 10)
    chat = ChatDriver(core)
    await chat.register("rina", "Rina Marlina", "199107082019032012")
    await chat.register("budi", "Budi Santoso", "198503142010011003")
    await chat.register("sari", "Sari Dewi", "198001012005012004")
    await chat.submit_idea(
        "rina",
        "SI-JEMPOL",
        "Warga lansia sulit datang ke kantor untuk perekaman KTP elektronik.",
        "Petugas menjemput bola: perekaman KTP-el di rumah warga lansia dan difabel.",
    )
    await chat.submit_idea(
        "budi",
        "Kebun Gizi Sekolah",
        "Banyak siswa sekolah dasar sarapan seadanya dan kurang sayur.",
        "Setiap sekolah menanam sayur di halaman dan memasaknya untuk makan siang bersama.",
    )
    async with core.database.sessions() as session, session.begin():
        users = {u.full_name: u for u in await session.scalars(select(User))}
        ideas = {i.name: i for i in await session.scalars(select(Idea))}
        sari = users["Sari Dewi"]
        session.add(UserRole(user_id=sari.id, role=Role.COORDINATOR, opd_id=sari.opd_id))
        return {"rina": ideas["SI-JEMPOL"].id, "budi": ideas["Kebun Gizi Sekolah"].id}


async def _what_people_do(core: Core, day: date, ideas: dict[str, int]) -> None:
    """Bappeda moves both ideas at the stage boundaries; Rina does her part on time."""
    async with core.database.sessions() as session, session.begin():
        for idea in await session.scalars(select(Idea)):
            if day == STAGES[Stage.DESIGN][0]:
                idea.stage = Stage.DESIGN
            if day == STAGES[Stage.DELIVER][0]:
                idea.stage = Stage.DELIVER
            if day == STAGES[Stage.DISPLAY][0]:
                idea.stage = Stage.DISPLAY
        rina = await session.get(Idea, ideas["rina"])
        assert rina is not None
        if day == date(2027, 5, 18):  # after the 7-day reminders, before the 3-day ones
            session.add(ActionPlanItem(idea_id=rina.id, month=date(2027, 6, 1), activity="Uji"))
            rina.launch_date = date(2027, 6, 1)


async def _rina_reports(core: Core, day: date, ideas: dict[str, int]) -> None:
    """Rina answers each monthly prompt the day it arrives."""
    period = day.strftime("%Y-%m")
    async with core.database.sessions() as session, session.begin():
        prompt = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.key == f"monitoring:{ideas['rina']}:{period}",
                OutboxMessage.state == OutboxState.SENT.value,
            )
        )
        done = await session.scalar(
            select(MonitoringReport).where(
                MonitoringReport.idea_id == ideas["rina"], MonitoringReport.period == period
            )
        )
        if prompt is not None and done is None:
            session.add(
                MonitoringReport(
                    idea_id=ideas["rina"], period=period, progress=50, done="Uji coba",
                    obstacles=[], next_step="Perluasan",
                )
            )  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_programme_year_sends_every_reminder_and_prompt_once_at_allowed_times(
    settings: Settings,
) -> None:
    # Housekeeping would delete rows finished 90 days ago: keep the year's for the count.
    settings = dataclasses.replace(settings, retention_days=3650)
    clock = Clock(datetime(2027, 1, 1, tzinfo=UTC))
    inbox = Inbox(clock)
    process = Process(settings, clock, inbox)
    async with process.running() as core:
        ideas = await _setting_up(core, clock)
    day = date(2027, 2, 11)
    while day <= date(2027, 12, 31):
        # A restart between every two days: a new core on the same database.
        async with process.running() as core:
            clock.set(day, 0, 30)
            await _what_people_do(core, day, ideas)
            for hour in TICK_HOURS:
                clock.set(day, hour)
                await core.scheduler.tick()
                await core.sender.drain()
                if hour == 9:
                    clock.set(day, 10)
                    await _rina_reports(core, day, ideas)
        day += timedelta(days=1)

    async with process.running() as core, core.database.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    sent = Counter(r.key for r in rows if r.state == OutboxState.SENT.value)
    rina, budi = ideas["rina"], ideas["budi"]
    expected = {
        f"reminder:{rina}:design:7",
        f"reminder:{rina}:deliver:7",
        *(f"reminder:{budi}:{stage}:{n}" for stage in ("design", "deliver") for n in (7, 3, 1)),
        *(f"monitoring:{idea}:{m}" for idea in (rina, budi) for m in DELIVER_MONTHS),
        *(f"follow_up:{budi}:{m}" for m in DELIVER_MONTHS),
    }
    scheduled = {k for k in sent if not k.startswith(("reply:", "delivery:"))}
    escalations = {k for k in scheduled if k.startswith("escalation:")}
    assert scheduled - escalations == expected
    assert len(escalations) == len(DELIVER_MONTHS)  # Sari, about Budi's idea, every month
    assert all(n == 1 for n in sent.values())
    # Each went out once: the recorded deliveries are as many as the rows sent.
    assert len(inbox.got) == sum(1 for k in sent if not k.startswith("reply:"))

    hours = WorkingTime(WIB)
    assert all(hours.is_open(moment) for moment, _, _ in inbox.got)
    first_prompt = min(
        m for m, _, text in inbox.got if "Juni 2027" in text and "laporan bulanan" in text
    )
    # 1 June 2027 is Hari Lahir Pancasila: the June prompt goes on the 2nd, at 09:00.
    assert first_prompt.astimezone(WIB) == datetime(2027, 6, 2, 9, 0, tzinfo=WIB)
