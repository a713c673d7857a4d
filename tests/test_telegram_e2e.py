"""Whole conversations through Telegram: the real core, PTB's Application, the fake Bot API.

Each test runs in polling and in webhook mode, on every database backend the suite tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import Core, open_core
from bot.config import Settings
from handlers.i18n import Translator
from storage.models import Idea
from tests.fakes.telegram_api import FakeUser, SentMessage, TelegramRig, telegram_rig
from tests.pii import personal_data_in

ID = Translator("id")
PROBLEM = "Antrian panjang di puskesmas membuat warga lanjut usia menunggu berjam-jam"
IDEA = "Pendaftaran pasien lansia dijemput kader posyandu lewat WhatsApp sebelum hari kunjungan"


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log line of these runs, at DEBUG, names nobody (issue 20.5, UU 27/2022)."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    assert personal_data_in(records, ["Rina"]) == []


@asynccontextmanager
async def demo_core(settings: Settings) -> AsyncIterator[Core]:
    """The real core on the test database (migrated by the fixture), with the demo OPDs."""
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv

    async with open_core(settings, migrate=False) as core:
        await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        yield core


@pytest.fixture(params=["polling", "webhook"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[TelegramRig]:
    async with telegram_rig(
        tmp_path, str(request.param), demo_core, database_url=database_url
    ) as rig:
        yield rig


class Person:
    """Someone chatting with the bot in Telegram; each action waits for the full answer."""

    def __init__(self, rig: TelegramRig, user: FakeUser) -> None:
        self.rig = rig
        self.user = user
        self.last: list[SentMessage] = []

    async def _settle(self, update_id: int) -> list[SentMessage]:
        before = {m.message_id for m in self.rig.fake.sent_to(self.user.id)}
        async with asyncio.timeout(10):
            # The database has no change notification, so poll it briefly.
            while not await self.rig.core.inbound.is_processed("telegram", str(update_id)):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await self.rig.channel.idle()
        self.last = [m for m in self.rig.fake.sent_to(self.user.id) if m.message_id not in before]
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(m.text or "" for m in self.last)

    async def say(self, text: str) -> list[SentMessage]:
        return await self._settle(self.rig.fake.send_text(self.user, text))

    def keyboard(self) -> SentMessage:
        """The newest message that still shows buttons."""
        for message in reversed(self.rig.fake.sent_to(self.user.id)):
            if message.buttons:
                return message
        raise AssertionError("no message with buttons")

    async def press(self, data: str) -> list[SentMessage]:
        return await self._settle(self.rig.fake.press(self.user, self.keyboard(), data))

    async def pick(self, label_part: str) -> list[SentMessage]:
        return await self._settle(self.rig.fake.press_label(self.user, self.keyboard(), label_part))

    async def register(self, name: str = "Rina Marlina", nip: str = "199107082019032012") -> None:
        await self.say("/mulai")
        await self.say(name)
        await self.say(nip)
        await self.say("kesehatan")
        await self.pick("Dinas Kesehatan")
        await self.say("Pranata Komputer")
        assert ID("registration.done", name=name) in self.text, self.text

    async def start_idea(self, name: str, problem: str = PROBLEM, idea: str = IDEA) -> None:
        await self.say("/ide")
        await self.say(name)
        await self.say(problem)
        await self.say(idea)

    async def finish_idea(self) -> None:
        await self.say("Meningkatkan cakupan layanan bagi warga.")
        await self.say("Warga terlayani lebih cepat.")
        await self.say("Warga lanjut usia")
        await self.press("digital:no")
        await self.press("form:pelayanan_publik")
        await self.say("kesehatan")
        await self.press("initiator:asn")
        await self.press("opd:own")
        await self.say("50 juta")
        await self.press("attach:done")
        assert ID("intake.summary_title") in self.text, self.text


async def count_ideas(core: Core) -> int:
    async with core.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Idea)) or 0)


async def test_registration_through_telegram(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9001, "Rina <b>", language_code="id"))
    await rina.say("/mulai")
    assert ID("registration.ask_name") in rina.text

    # Markup characters in a name are the person's text, sent back literally.
    await rina.register(name="Rina <b>Marlina</b> *S.Kom*")
    [done] = [m for m in rina.last if m.buttons]
    assert "Rina <b>Marlina</b> *S.Kom*" in (done.text or "")
    assert all("parse_mode" not in c.params for c in rig.fake.calls_of("sendMessage"))


async def test_idea_intake_warns_about_a_near_duplicate(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9002, "Rina"))
    await rina.register()
    await rina.start_idea("SI-JEMPOL")
    await rina.finish_idea()
    await rina.press("summary:save")
    assert await count_ideas(rig.core) == 1

    await rina.start_idea("JEMPUT LANSIA")
    assert ID("dup.question") in rina.text, rina.text
    warning = rina.keyboard()
    assert "SI-JEMPOL" in (warning.text or "")
    payloads = [data for _, data in warning.buttons]
    assert {"dup:continue", "dup:cancel"} <= set(payloads)
    assert any(p.startswith("dup:join:") for p in payloads)
    await rina.press("dup:continue")
    await rina.finish_idea()
    await rina.press("summary:save")
    assert await count_ideas(rig.core) == 2


async def test_a_button_pressed_twice_acts_once(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9003, "Rina"))
    await rina.register()
    await rina.start_idea("SI-JEMPOL")
    await rina.finish_idea()

    # A double tap: both presses reach Telegram before the bot answers the first.
    summary = rina.keyboard()
    first = rig.fake.press(rina.user, summary, "summary:save")
    second = rig.fake.press(rina.user, summary, "summary:save")
    await rina._settle(first)
    await rina._settle(second)

    assert await count_ideas(rig.core) == 1
    assert summary.reply_markup is None  # the spent keyboard was taken off the message
    assert len(rig.fake.answered_callbacks) >= 2  # every press stops its spinner


async def test_a_button_from_an_old_message_changes_nothing(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9004, "Rina"))
    await rina.register()
    await rina.start_idea("SI-JEMPOL")
    await rina.say("Meningkatkan cakupan layanan bagi warga.")
    await rina.say("Warga terlayani lebih cepat.")
    await rina.say("Warga lanjut usia")
    digital_question = rina.keyboard()
    digits = [d for _, d in digital_question.buttons]
    await rina.say(str(digits.index("digital:no") + 1))  # typed instead of pressed

    # The old message still shows its buttons; pressing one now is refused politely.
    await rina._settle(rig.fake.press(rina.user, digital_question, "digital:yes"))
    assert "tidak berlaku" in rina.text
    # A forged press (callback data is never trusted) gets the same answer.
    await rina._settle(rig.fake.press(rina.user, digital_question, "idea:999", check=False))
    assert "tidak berlaku" in rina.text

    await rina.press("form:pelayanan_publik")
    await rina.say("kesehatan")
    await rina.press("initiator:asn")
    await rina.press("opd:own")
    await rina.say("50 juta")
    await rina.press("attach:done")
    await rina.press("summary:save")
    async with rig.core.database.sessions() as session:
        idea = await session.scalar(select(Idea))
    assert idea is not None and idea.is_digital is False


async def test_a_restart_mid_conversation_resumes_where_it_was(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9005, "Rina"))
    await rina.register()
    await rina.say("/ide")
    await rina.say("SI-JEMPOL")
    asked_problem = rina.text

    await rig.restart()  # a new process: new core, new Application, same database

    await rina.say(PROBLEM)
    # The question asked before the restart is shown again before an answer is taken.
    assert ID("flow.welcome_back") in rina.text and asked_problem in rina.text
    await rina.say(PROBLEM)
    assert ID("intake.ask_idea") in rina.text
    await rina.say(IDEA)
    await rina.finish_idea()
    await rina.press("summary:save")
    assert await count_ideas(rig.core) == 1


async def test_an_update_taken_just_before_a_crash_is_answered_after_restart(
    rig: TelegramRig,
) -> None:
    rina = Person(rig, rig.fake.user(9006, "Rina"))
    await rina.register()
    await rig.stop()
    # The previous process acknowledged (stored) this update, then died before processing it.
    payload: dict[str, Any] = {"update_id": 55555, **rig.fake.message_update(rina.user, "/ide")}
    async with demo_core(rig.settings) as core:
        assert await core.inbound.store("telegram", "55555", payload)

    await rig.start()
    await rina._settle(55555)
    assert ID("intake.ask_name") in rina.text, rina.text


async def test_unsupported_messages_and_oversized_files_get_the_cores_answer(
    rig: TelegramRig,
) -> None:
    rina = Person(rig, rig.fake.user(9007, "Rina"))
    await rina.register()
    await rina._settle(rig.fake.send_sticker(rina.user))
    assert "belum bisa membaca" in rina.text
    await rina._settle(
        rig.fake.send_document(rina.user, b"x", "video.mp4", "video/mp4", declared_size=30 << 20)
    )
    assert "20 MB" in rina.text


async def test_a_person_who_blocks_the_bot_is_recorded_as_blocked(rig: TelegramRig) -> None:
    from storage.models import Identity

    rina = Person(rig, rig.fake.user(9008, "Rina"))
    await rina.register()
    await rina._settle(rig.fake.block(rina.user))

    async with rig.core.database.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(Identity.channel == "telegram", Identity.external_id == "9008")
        )
    assert identity is not None and identity.blocked_at is not None
