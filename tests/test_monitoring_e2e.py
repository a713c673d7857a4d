"""The monthly monitoring prompt end to end (issue 11): scheduled, sent, answered.

Telegram: the prompt arrives on the first working day of June 2027 (1 June is a holiday, so
the 2nd), its button starts the report, and a report with eviden is recorded. WhatsApp: the
owner last wrote days ago, so the prompt goes as the approved template; their answer opens
the same report.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.app import Core, open_core
from bot.config import Settings
from handlers.i18n import Translator
from storage.models import (
    Idea,
    IdeaAttachment,
    Identity,
    MonitoringReport,
    Programme,
    ProgrammeStage,
    Stage,
)
from storage.outbox import OutboxMessage, OutboxState
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import TelegramRig, telegram_rig
from tests.test_telegram_e2e import IDEA, PROBLEM, Person
from tests.test_whatsapp_e2e import open_stack, read, register

ID = Translator("id")
WIB = ZoneInfo("Asia/Jakarta")


class Clock:
    def __init__(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=WIB).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: date, hour: int) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=WIB).astimezone(UTC)


def _core_factory(clock: Clock) -> Any:
    @contextlib.asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[Core]:
        from bot.demo import DEMO_DIR
        from bot.opd_import import import_opds, read_opd_csv

        async with open_core(settings, migrate=False, clock=clock) as core:
            await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
            async with core.database.sessions() as session, session.begin():
                session.add(
                    Programme(
                        name="Laboratorium Inovasi 2027",
                        stages=[
                            ProgrammeStage(
                                stage=Stage.DESIGN, starts=date(2027, 4, 1), ends=date(2027, 5, 31)
                            ),
                            ProgrammeStage(
                                stage=Stage.DELIVER,
                                starts=date(2027, 6, 1),
                                ends=date(2027, 11, 30),
                            ),
                        ],
                    )
                )
            yield core

    return factory


async def _into_deliver(core: Core) -> int:
    async with core.database.sessions() as session, session.begin():
        idea = await session.scalar(select(Idea))
        assert idea is not None
        idea.stage = Stage.DELIVER
        idea.launch_date = date(2027, 6, 1)
        return idea.id


@pytest.fixture
def clock() -> Clock:
    return Clock(date(2027, 5, 20), 10)


@pytest.fixture
async def rig(tmp_path: Path, database_url: str, clock: Clock) -> AsyncIterator[TelegramRig]:
    async with telegram_rig(
        tmp_path, "polling", _core_factory(clock), database_url=database_url
    ) as rig:
        yield rig


async def test_a_monthly_prompt_through_telegram_is_answered_with_a_report_and_eviden(
    rig: TelegramRig, clock: Clock
) -> None:
    rina = Person(rig, rig.fake.user(9101, "Rina"))
    await rina.register()
    await rina.start_idea("SI-JEMPOL", PROBLEM, IDEA)
    await rina.finish_idea()
    await rina.press("summary:save")
    idea_id = await _into_deliver(rig.core)

    clock.set(date(2027, 6, 1), 9)  # Hari Lahir Pancasila: nothing goes out
    await rig.core.scheduler.tick()
    assert await rig.core.sender.drain() == 0
    before = rig.fake.count_to(rina.user.id)
    clock.set(date(2027, 6, 2), 9)
    await rig.core.scheduler.tick()
    await rig.core.sender.drain()
    prompt = rig.fake.sent_to(rina.user.id)[before:]
    assert len(prompt) == 1 and "Juni 2027" in (prompt[0].text or "")
    assert prompt[0].buttons == [("Laporkan sekarang", f"/lapor {idea_id} 2027-06")]

    await rina.press(f"/lapor {idea_id} 2027-06")
    assert ID("report.ask_progress") in rina.text
    await rina.say("60 persen")
    await rina.say("Perekaman di 25 rumah warga lansia.")
    await rina.press("obstacle:none")
    sent = rig.fake.send_document(rina.user, b"%PDF-1.4 SK", "sk-tim.pdf")
    await rina._settle(sent)
    assert "sk-tim.pdf" in rina.text
    await rina.press("ind:sdm")
    await rina.press("eviden:done")
    await rina.say("Menambah dua kecamatan.")
    await rina.press("summary:save")
    assert ID("report.saved", name="SI-JEMPOL", month="Juni 2027") in rina.text

    async with rig.core.database.sessions() as session:
        report = await session.scalar(select(MonitoringReport))
        files = list(await session.scalars(select(IdeaAttachment)))
    assert report is not None and (report.period, report.progress) == ("2027-06", 60)
    assert [(f.file_name, f.indicator, f.report_id) for f in files] == [
        ("sk-tim.pdf", "sdm", report.id)
    ]
    # Reported: no follow-up three working days later, and the prompt never again.
    clock.set(date(2027, 6, 8), 9)
    await rig.core.scheduler.tick()
    assert await rig.core.sender.drain() == 0


async def test_a_prompt_outside_the_whatsapp_window_goes_as_the_template(
    settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES

    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    try:
        async with _core_factory(clock)(settings) as core:
            stack = await open_stack(core, fake, tmp_path)
            try:
                stack.offset[0] = clock.now - datetime.now(UTC)  # the channel's clock too
                rina = stack.user()
                await register(rina)
                async with core.database.sessions() as session, session.begin():
                    await session.execute(
                        update(Identity).values(last_inbound_at=clock.now - timedelta(days=3))
                    )
                    user_id = await session.scalar(select(Identity.user_id))
                    session.add(
                        Idea(name="SI-JEMPOL", problem=PROBLEM, idea=IDEA, owner_id=user_id,
                             stage=Stage.DELIVER, opd_id=1)
                    )  # fmt: skip
                clock.set(date(2027, 6, 2), 9)
                stack.offset[0] = clock.now - datetime.now(UTC)
                await core.scheduler.tick()
                await core.sender.drain()
                [template] = [m for m in fake.sent_to(rina.wa_id) if m["type"] == "template"]
                assert template["template"]["name"] == "sasi_monev_bulanan"
                params = template["template"]["components"][0]["parameters"]
                assert [p["text"] for p in params] == ["Rina Marlina", "SI-JEMPOL", "Juni 2027"]
                async with core.database.sessions() as session:
                    row = await session.scalar(
                        select(OutboxMessage).where(OutboxMessage.kind == "monitoring")
                    )
                assert row is not None and row.state == OutboxState.SENT
                # Her answer opens the window and the report.
                answer = await rina.says("/lapor")
                assert ID("report.ask_progress") in read(answer)
            finally:
                await stack.close()
    finally:
        await fake.close()
    assert fake.violations == []
