"""Every bot-initiated message kind reaches a WhatsApp user whose 24-hour window is closed as
its approved template (against the Graph API fake, which checks names and parameter counts).

The clarification's two templates are in tests/test_clarification_e2e.py, the review,
reminder, monitoring, digest, broadcast and link-code ones beside their flows; here are the
rest: an idea withdrawn, a role granted and revoked, an export, a dashboard link, and a
broadcast's final report. A source scan checks that no purpose is used that is not configured.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import Core
from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES
from storage.audit import CLI
from storage.models import Broadcast, Identity, Role, User
from storage.outbox import add_messages
from storage.roles import grant
from tests.chat import ChatDriver
from tests.fakes.graph_api import FakeGraphApi
from tests.test_review_e2e import COORDINATOR_NIP, ID, add_idea, make_coordinator
from tests.test_whatsapp_e2e import Stack, WhatsAppUser, open_stack, register

ROOT = Path(__file__).resolve().parent.parent
OWNER_NIP = "199107082019032012"
BAPPEDA_NIP = "197905102005011002"


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


async def close_window(stack: Stack, wa_id: str) -> None:
    database = stack.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        await session.execute(
            update(Identity)
            .where(Identity.external_id == wa_id)
            .values(last_inbound_at=datetime.now(UTC) - timedelta(days=3))
        )


async def template_to(stack: Stack, user: WhatsAppUser) -> tuple[str, list[str]]:
    """Send what is due and return the one template the person got: name and parameters."""
    await close_window(stack, user.wa_id)
    user.new_messages()
    await stack.core.sender.drain()
    [message] = user.new_messages()
    assert message["type"] == "template", message
    body: dict[str, Any] = message["template"]
    params = [p["text"] for p in (body.get("components") or [{"parameters": []}])[0]["parameters"]]
    return body["name"], params


async def budi(stack: Stack) -> WhatsAppUser:
    person = stack.user("6282222222222", "Budi")
    await register(person, "Budi Santoso", COORDINATOR_NIP)
    await make_coordinator(stack.core.database, COORDINATOR_NIP)
    return person


async def test_an_idea_withdrawn_reaches_the_coordinator(stack: Stack) -> None:
    coordinator = await budi(stack)
    rina = stack.user("6281234567890", "Rina")
    await register(rina)
    idea_id = await add_idea(stack.core.database, OWNER_NIP, "SI-JEMPOL")
    await close_window(stack, coordinator.wa_id)
    await rina.says(f"/ideku {idea_id} tarik")
    await rina.taps("owithdraw:yes")
    assert await template_to(stack, coordinator) == (
        "sasi_ide_ditarik",
        ["Budi Santoso", "SI-JEMPOL", "Rina Marlina"],
    )


async def test_a_role_granted_and_revoked_reach_the_person(stack: Stack) -> None:
    coordinator = await budi(stack)
    # The Bappeda officer works from the terminal; the person told is on WhatsApp.
    chat = ChatDriver(stack.core)
    await chat.register("agus", "Agus Wijaya", BAPPEDA_NIP, "perencanaan", "Bappeda")
    database = stack.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        agus = await session.scalar(select(User).where(User.nip == BAPPEDA_NIP))
        assert agus is not None
        await grant(session, CLI, agus, Role.BAPPEDA, None)
    await chat.say("agus", f"/peran {COORDINATOR_NIP}")
    await chat.press("agus", chat.payload("agus", ID("roles.grant.bappeda")))
    name = ID("roles.name.bappeda")
    assert await template_to(stack, coordinator) == ("sasi_peran_diberikan", ["Budi Santoso", name])
    await chat.say("agus", f"/peran {COORDINATOR_NIP}")
    await chat.pick("agus", ID("roles.revoke", role=name))
    assert await template_to(stack, coordinator) == ("sasi_peran_dicabut", ["Budi Santoso", name])


async def test_an_export_and_a_dashboard_link_past_the_window(stack: Stack) -> None:
    coordinator = await budi(stack)
    await add_idea(stack.core.database, COORDINATOR_NIP, "SI-JEMPOL")
    # Asked, then not sent for a day (the outbox was down): the file cannot go, the template
    # says so and asks for /ekspor again.
    await coordinator.says("/ekspor xlsx")
    assert await template_to(stack, coordinator) == ("sasi_ekspor_siap", ["Budi Santoso", "1"])
    await coordinator.says("/dasbor")
    assert await template_to(stack, coordinator) == ("sasi_tautan_dasbor", ["Budi Santoso"])


async def test_a_broadcast_report_carries_its_template(stack: Stack) -> None:
    coordinator = await budi(stack)
    database = stack.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        sender = await session.scalar(select(User).where(User.nip == COORDINATOR_NIP))
        assert sender is not None
        broadcast = Broadcast(
            sender_id=sender.id,
            text="Rapat koordinasi Jumat pukul 09.00.",
            draft_key="templates-test",
            segment={"kind": "all"},
            locale="id",
            progress_channel="whatsapp",
            progress_chat=coordinator.wa_id,
            recipients=10,
            counts={},
        )
        session.add(broadcast)
        await session.flush()
        counts = {"sent": 7, "failed": 1, "no_template": 2}
        # The final report as the progress loop makes it, sent after the window closed.
        rows = stack.core.broadcasts._messages(
            broadcast, counts, None, datetime.now(UTC), final=True
        )
        await add_messages(session, rows)
        broadcast_id = broadcast.id
    assert await template_to(stack, coordinator) == (
        "sasi_laporan_siaran",
        [str(broadcast_id), "7", "10", "3"],
    )


PURPOSE = re.compile(r"""TemplateCall\(\s*["']([a-z_]+)["']""")
CONSTANT = re.compile(r"""^(?:[A-Z_]*TEMPLATE)\s*=\s*["']([a-z_]+)["']""", re.MULTILINE)


def test_every_purpose_in_the_code_is_configured_and_documented() -> None:
    used: set[str] = set()
    for folder in ("handlers", "bot", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            used |= set(PURPOSE.findall(text)) | set(CONSTANT.findall(text))
    assert {"review_update", "clarification_answer", "role_granted"} <= used
    assert sorted(used - set(DEFAULT_TEMPLATES)) == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in DEFAULT_TEMPLATES.values() if f"`{s.name}`" not in readme]
    assert missing == []
