"""A clarification end to end: the reviewer asks, the owner answers from the notice's button,
the reviewer is told. Through Telegram (the real PTB stack and the Bot API fake) and through
WhatsApp (signed webhooks and the Graph API fake), inside and outside the 24-hour window."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.app import Core
from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES
from handlers.notices import long_date
from storage.models import IdeaClarification, Identity
from tests import test_telegram_e2e as telegram_e2e
from tests.fakes.graph_api import FakeGraphApi, offered_choices, visible_text
from tests.fakes.telegram_api import TelegramRig, telegram_rig
from tests.test_review_e2e import COORDINATOR_NIP, ID, add_idea, make_coordinator
from tests.test_telegram_e2e import Person
from tests.test_whatsapp_e2e import Stack, open_stack, register

QUESTION = "Berapa <b>puskesmas</b> yang dilayani?"
ANSWER = "Tiga puskesmas, dengan *kader* posyandu 🙏"
OWNER_NIP = "199107082019032012"


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[TelegramRig]:
    factory = telegram_e2e.demo_core
    async with telegram_rig(tmp_path, "polling", factory, database_url=database_url) as rig:
        yield rig


@pytest.fixture
async def stack(demo_core: Core, tmp_path: Path) -> AsyncIterator[Stack]:
    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    opened = await open_stack(demo_core, fake, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
        await fake.close()
    assert fake.violations == [], "the channel broke a documented Cloud API rule"


async def answers(core: Core) -> list[str | None]:
    async with core.database.sessions() as session:
        return list(await session.scalars(select(IdeaClarification.answer)))


async def close_window(stack: Stack, wa_id: str) -> None:
    database = stack.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        await session.execute(
            update(Identity)
            .where(Identity.external_id == wa_id)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=3))
        )


async def test_a_clarification_through_telegram(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9301, "Rina"))
    budi = Person(rig, rig.fake.user(9302, "Budi"))
    await rina.register()
    await budi.register(name="Budi Santoso", nip=COORDINATOR_NIP)
    await make_coordinator(rig.core.database, COORDINATOR_NIP)
    idea_id = await add_idea(rig.core.database, OWNER_NIP, "SI-JEMPOL")

    await budi.say(f"/tinjau {idea_id}")
    await budi.press(f"rv:clarify:{idea_id}")
    await budi.say(QUESTION)
    assert ID("review.clarify_sent", id=idea_id, name="SI-JEMPOL") in budi.text
    assert await rig.core.sender.drain() >= 1
    notice = rina.keyboard()
    assert QUESTION in (notice.text or "")  # as written: no markup on Telegram
    assert (ID("clarify.answer_button"), f"/ideku {idea_id} jawab") in notice.buttons

    await rina.pick(ID("clarify.answer_button"))
    assert QUESTION in rina.text
    await rina.say(ANSWER)
    assert ID("clarify.sent", id=idea_id, name="SI-JEMPOL") in rina.text
    assert await answers(rig.core) == [ANSWER]

    before = rig.fake.count_to(budi.user.id)
    assert await rig.core.sender.drain() >= 1
    [told] = rig.fake.sent_to(budi.user.id)[before:]
    assert ANSWER in (told.text or "")
    assert all("parse_mode" not in c.params for c in rig.fake.calls_of("sendMessage"))
    await budi.pick(ID("clarify.open_idea"))
    assert ANSWER in budi.text and ID("review.flag_waiting") not in budi.text

    # The notice's button pressed again, from the old message: answered, said politely.
    await rina._settle(rig.fake.press(rina.user, notice, f"/ideku {idea_id} jawab", check=False))
    today = long_date(ID, datetime.now(rig.core.settings.tz).date())
    assert ID("clarify.already_answered", id=idea_id, by="Rina Marlina", date=today) in rina.text
    assert await answers(rig.core) == [ANSWER]


async def test_a_clarification_through_whatsapp_in_and_outside_the_window(stack: Stack) -> None:
    rina = stack.user("6281234567890", "Rina")
    budi = stack.user("6282222222222", "Budi")
    await register(rina)
    await register(budi, "Budi Santoso", COORDINATOR_NIP)
    await make_coordinator(stack.core.database, COORDINATOR_NIP)
    first = await add_idea(stack.core.database, OWNER_NIP, "SI-JEMPOL")
    second = await add_idea(stack.core.database, OWNER_NIP, "KADER JEMPUT")

    # Inside the window: the question as text, with a reply button that opens the answer.
    await budi.says(f"/tinjau {first}")
    await budi.taps(f"rv:clarify:{first}")
    await budi.says(QUESTION)
    rina.new_messages()
    await stack.core.sender.drain()
    [notice] = rina.new_messages()
    assert QUESTION in visible_text(notice)
    assert f"/ideku {first} jawab" in [i for i, _, _ in offered_choices(notice)]
    asked = await rina.taps(f"/ideku {first} jawab")
    assert QUESTION in "\n".join(visible_text(m) for m in asked)
    # A sticker where text is wanted: a polite answer, the question stays.
    sticker = await rina.send("sticker", MEDIA_ID="123", MEDIA_SHA256="h")
    assert ID("input.unsupported") in "\n".join(visible_text(m) for m in sticker)
    await rina.says(ANSWER)
    assert await answers(stack.core) == [ANSWER]
    budi.new_messages()
    await stack.core.sender.drain()
    [told] = budi.new_messages()
    assert told["type"] in ("text", "interactive") and ANSWER in visible_text(told)

    # Outside the window: each side gets its approved template instead.
    await budi.says(f"/tinjau {second}")
    await budi.taps(f"rv:clarify:{second}")
    await budi.says("Kapan mulai?")
    await close_window(stack, rina.wa_id)
    rina.new_messages()
    await stack.core.sender.drain()
    [template] = rina.new_messages()
    assert template["type"] == "template"
    assert template["template"]["name"] == "sasi_klarifikasi_ide"
    params = [p["text"] for p in template["template"]["components"][0]["parameters"]]
    assert params == ["Rina Marlina", "KADER JEMPUT", "Budi Santoso", "Kapan mulai?", str(second)]
    # Rina answers days later by typing (her message opens her window again).
    await rina.says(f"/ideku {second} jawab")
    await rina.says("Bulan depan.")
    await close_window(stack, budi.wa_id)
    budi.new_messages()
    await stack.core.sender.drain()
    [template] = budi.new_messages()
    assert template["template"]["name"] == "sasi_jawaban_klarifikasi"
    params = [p["text"] for p in template["template"]["components"][0]["parameters"]]
    assert params == ["Budi Santoso", "KADER JEMPUT", "Rina Marlina", "Bulan depan."]
