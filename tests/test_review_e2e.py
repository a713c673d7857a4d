"""A review end to end: the coordinator reviews through a channel, the owner's notice arrives.

Telegram: Rina submits an idea, Budi (coordinator of Dinkes) rejects it with a reason full of
markup, and Rina receives the reason literally. WhatsApp: inside the 24-hour window the reason
arrives as text; outside it, a verification goes as the approved ``review_update`` template.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.app import Core
from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES
from handlers.i18n import Translator
from storage.audit import CLI
from storage.models import Idea, IdeaStatus, Identity, Opd, Role, Stage, User
from storage.roles import grant
from tests import test_telegram_e2e as telegram_e2e
from tests.fakes.graph_api import FakeGraphApi, offered_choices, visible_text
from tests.fakes.telegram_api import TelegramRig, telegram_rig
from tests.test_telegram_e2e import IDEA, PROBLEM, Person
from tests.test_whatsapp_e2e import Stack, open_stack, register

ID = Translator("id")
COORDINATOR_NIP = "198503152010011003"
REASON = "Sudah ada <b>inovasi</b> serupa di *Puskesmas* Sukamaju 🙏"


async def make_coordinator(database: object, nip: str) -> None:
    from storage.db import Database

    assert isinstance(database, Database)
    async with database.writing(), database.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.nip == nip))
        opd = await session.scalar(select(Opd).where(Opd.short_name == "Dinkes"))
        assert user is not None and opd is not None
        await grant(session, CLI, user, Role.COORDINATOR, opd)


async def add_idea(database: object, owner_nip: str, name: str) -> int:
    from storage.db import Database

    assert isinstance(database, Database)
    async with database.writing(), database.sessions() as session, session.begin():
        owner = await session.scalar(select(User).where(User.nip == owner_nip))
        assert owner is not None
        idea = Idea(
            name=name,
            problem=PROBLEM,
            idea=IDEA,
            opd_id=owner.opd_id,
            owner_id=owner.id,
            stage=Stage.DIAGNOSE,
        )
        session.add(idea)
        await session.flush()
        return idea.id


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


async def test_a_rejection_through_telegram_reaches_the_owner_literally(rig: TelegramRig) -> None:
    rina = Person(rig, rig.fake.user(9201, "Rina"))
    budi = Person(rig, rig.fake.user(9202, "Budi"))
    await rina.register()
    await budi.register(name="Budi Santoso", nip=COORDINATOR_NIP)
    await make_coordinator(rig.core.database, COORDINATOR_NIP)
    await rina.start_idea("SI-JEMPOL")
    await rina.finish_idea()
    await rina.press("summary:save")
    async with rig.core.database.sessions() as session:
        idea_id = await session.scalar(select(Idea.id))

    await budi.say("/tinjau")
    assert ID("review.queue_title", count=1) in budi.text
    await budi.press(f"rv:open:{idea_id}")
    assert ID("review.detail_title", id=idea_id, name="SI-JEMPOL") in budi.text
    await budi.press(f"rv:reject:{idea_id}")
    await budi.say(REASON)
    assert ID("review.rejected", id=idea_id, name="SI-JEMPOL") in budi.text

    before = rig.fake.count_to(rina.user.id)
    assert await rig.core.sender.drain() >= 1
    [notice] = rig.fake.sent_to(rina.user.id)[before:]
    assert notice.text == ID(
        "review.told_rejected", id=idea_id, idea="SI-JEMPOL", by="Budi Santoso", reason=REASON
    )
    assert all("parse_mode" not in c.params for c in rig.fake.calls_of("sendMessage"))
    async with rig.core.database.sessions() as session:
        idea = await session.get(Idea, idea_id)
    assert idea is not None and (idea.status, idea.status_reason) == (IdeaStatus.REJECTED, REASON)


async def test_reviews_through_whatsapp_in_and_outside_the_window(stack: Stack) -> None:
    rina = stack.user("6281234567890", "Rina")
    budi = stack.user("6282222222222", "Budi")
    await register(rina)
    await register(budi, "Budi Santoso", COORDINATOR_NIP)
    database = stack.core.database
    await make_coordinator(database, COORDINATOR_NIP)
    rejected = await add_idea(database, "199107082019032012", "SI-JEMPOL")
    verified = await add_idea(database, "199107082019032012", "KADER JEMPUT")

    queue = await budi.says("/tinjau")
    ids = [choice_id for choice_id, _, _ in offered_choices(queue[-1])]
    assert f"rv:open:{rejected}" in ids and f"rv:open:{verified}" in ids
    await budi.taps(f"rv:open:{rejected}")
    await budi.taps(f"rv:reject:{rejected}")
    done = await budi.says(REASON)
    assert ID("review.rejected", id=rejected, name="SI-JEMPOL") in "\n".join(
        visible_text(m) for m in done
    )
    rina.new_messages()
    await stack.core.sender.drain()
    [text] = rina.new_messages()
    assert text["type"] == "text" and REASON in visible_text(text)

    # Rina last wrote three days ago: the verification goes as the approved template.
    async with database.writing(), database.sessions() as session, session.begin():
        await session.execute(
            update(Identity)
            .where(Identity.external_id == rina.wa_id)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=3))
        )
    await budi.says(f"/tinjau {verified}")
    await budi.taps(f"rv:verify:{verified}")
    await stack.core.sender.drain()
    [template] = rina.new_messages()
    assert template["type"] == "template"
    assert template["template"]["name"] == "sasi_tinjauan_ide"
    params = [p["text"] for p in template["template"]["components"][0]["parameters"]]
    assert params == ["Rina Marlina", "KADER JEMPUT", ID("review.outcome.verified")]
