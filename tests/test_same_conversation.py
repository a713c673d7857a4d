"""One conversation, three channels: the same script registers an ASN and submits an idea on
the terminal chat, on Telegram and on WhatsApp, and each leaves the very same idea behind.

Each channel is driven the way its people use it: numbers typed in the terminal, inline
buttons on Telegram, reply buttons and list rows on WhatsApp. If a conversation only worked on
one channel, the core would be wrong, and this test is where that shows.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select

from bot.app import Core
from bot.channels.terminal import TerminalChannel
from handlers.messages import Incoming, Outcome
from storage.models import Idea
from tests.chat import ID
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import telegram_rig
from tests.test_telegram_e2e import Person
from tests.test_telegram_e2e import demo_core as telegram_demo_core
from tests.test_whatsapp_e2e import open_stack, read

# ("say", text) types a message; ("tap", payload) chooses what the last question offered.
SCRIPT: list[tuple[str, str]] = [
    ("say", "/mulai"),
    ("say", "Rina Marlina, S.Kom."),
    ("say", "19910708 201903 2 012"),
    ("say", "dinas"),  # a broad search: a paged list of OPDs
    ("tap", "page:next"),
    ("tap", "page:prev"),
    ("tap", "opd:again"),
    ("say", "kesehatan"),
    ("tap", "opd:{Dinkes}"),
    ("say", "Pranata Komputer Ahli Pertama"),
    ("say", "/ide"),
    ("say", "SI-SEHAT <LANSIA> *"),
    ("say", "Lansia jarang kontrol tekanan darah karena jarak ke puskesmas jauh."),
    ("say", "Perawat dan kader berkunjung ke rumah lansia sebulan sekali. 🩺"),
    ("say", "Tekanan darah lansia terpantau setiap bulan."),
    ("say", "Komplikasi dicegah lebih dini."),
    ("say", "Lansia dan keluarganya"),
    ("tap", "digital:no"),
    ("tap", "form:pelayanan_publik"),
    ("tap", "page:next"),  # the government affair, from the paged list
    ("tap", "page:prev"),
    ("tap", "affair:kesehatan"),
    ("tap", "initiator:asn"),
    ("tap", "opd:own"),
    ("say", "Rp 25.000.000"),
    ("tap", "attach:done"),
    ("tap", "summary:edit"),  # edit one of the fields from the summary
    ("tap", "page:next"),
    ("tap", "edit:budget"),
    ("say", "30 juta"),
    ("tap", "summary:save"),
]


class Driver(Protocol):
    async def say(self, text: str) -> str: ...

    async def tap(self, payload: str) -> str: ...


async def run_script(driver: Driver, opd_payload: str) -> str:
    said = ""
    for kind, value in SCRIPT:
        value = value.replace("opd:{Dinkes}", opd_payload)
        said = await (driver.say(value) if kind == "say" else driver.tap(value))
    return said


async def the_idea(core: Core) -> dict[str, Any]:
    async with core.database.sessions() as session:
        [idea] = list((await session.scalars(select(Idea))).unique())
    return {
        "name": idea.name,
        "problem": idea.problem,
        "idea": idea.idea,
        "goal": idea.goal,
        "benefit": idea.benefit,
        "beneficiaries": idea.beneficiaries,
        "is_digital": idea.is_digital,
        "form": idea.form,
        "affair": idea.affair,
        "initiator": idea.initiator,
        "opd": idea.opd.short_name if idea.opd else None,
        "budget": idea.budget_estimate,
        "owner": idea.owner.full_name if idea.owner else None,
    }


EXPECTED = {
    "name": "SI-SEHAT <LANSIA> *",
    "problem": "Lansia jarang kontrol tekanan darah karena jarak ke puskesmas jauh.",
    "idea": "Perawat dan kader berkunjung ke rumah lansia sebulan sekali. 🩺",
    "goal": "Tekanan darah lansia terpantau setiap bulan.",
    "benefit": "Komplikasi dicegah lebih dini.",
    "beneficiaries": "Lansia dan keluarganya",
    "is_digital": False,
    "form": "pelayanan_publik",
    "affair": "kesehatan",
    "initiator": "asn",
    "opd": "Dinkes",
    "budget": 30_000_000,
    "owner": "Rina Marlina, S.Kom.",
}


async def dinkes_payload(core: Core) -> str:
    from storage.models import Opd

    async with core.database.sessions() as session:
        opd_id = await session.scalar(select(Opd.id).where(Opd.short_name == "Dinkes"))
    return f"opd:{opd_id}"


# -- the terminal: choices answered by typing their number -------------------------------------


class TerminalDriver:
    def __init__(self, core: Core, tmp_path: Path) -> None:
        self.out = io.StringIO()
        self.offered: list[str] = []

        async def handle(incoming: Incoming) -> Outcome:
            outcome = await core.handle(incoming)
            for reply in outcome.replies:
                if reply.choices:
                    self.offered = [c.payload for c in reply.choices]
            return outcome

        self.channel = TerminalChannel(
            handle, tmp_path / "attachments", stdin=io.StringIO(), stdout=self.out, person="rina"
        )

    async def _feed(self, line: str) -> str:
        start = len(self.out.getvalue())
        await self.channel.feed(line)
        return self.out.getvalue()[start:]

    async def say(self, text: str) -> str:
        return await self._feed(text)

    async def tap(self, payload: str) -> str:
        assert payload in self.offered, f"{payload} not offered: {self.offered}"
        return await self._feed(str(self.offered.index(payload) + 1))


async def test_the_terminal_chat(demo_core: Core, tmp_path: Path) -> None:
    said = await run_script(TerminalDriver(demo_core, tmp_path), await dinkes_payload(demo_core))
    assert ID("intake.saved", id=1, name=EXPECTED["name"]).split("#")[0] in said
    assert await the_idea(demo_core) == EXPECTED


# -- Telegram: inline keyboards -----------------------------------------------------------------


class TelegramDriver:
    def __init__(self, person: Person) -> None:
        self.person = person

    async def say(self, text: str) -> str:
        await self.person.say(text)
        return self.person.text

    async def tap(self, payload: str) -> str:
        await self.person.press(payload)
        return self.person.text


@pytest.fixture(params=["polling", "webhook"])
async def telegram(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Any]:
    async with telegram_rig(
        tmp_path, str(request.param), telegram_demo_core, database_url=database_url
    ) as rig:
        yield rig


async def test_telegram(telegram: Any) -> None:
    person = Person(telegram, telegram.fake.user(4242, "Rina"))
    said = await run_script(TelegramDriver(person), await dinkes_payload(telegram.core))
    assert ID("intake.saved", id=1, name=EXPECTED["name"]).split("#")[0] in said
    assert await the_idea(telegram.core) == EXPECTED


# -- WhatsApp: reply buttons and list rows -----------------------------------------------------


class WhatsAppDriver:
    def __init__(self, user: Any) -> None:
        self.user = user

    async def say(self, text: str) -> str:
        return read(await self.user.says(text))

    async def tap(self, payload: str) -> str:
        return read(await self.user.taps(payload))


@pytest.fixture
async def whatsapp(
    demo_core: Core, tmp_path: Path
) -> AsyncIterator[tuple[Core, Callable[[], Awaitable[None]], Any]]:
    from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES

    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    stack = await open_stack(demo_core, fake, tmp_path)
    yield demo_core, stack.close, stack.user()
    await stack.close()
    await fake.close()
    assert fake.violations == [], "the channel broke a documented Cloud API rule"


async def test_whatsapp(whatsapp: tuple[Core, Any, Any]) -> None:
    core, _close, user = whatsapp
    said = await run_script(WhatsAppDriver(user), await dinkes_payload(core))
    assert ID("intake.saved", id=1, name=EXPECTED["name"]).split("#")[0] in said
    assert await the_idea(core) == EXPECTED
