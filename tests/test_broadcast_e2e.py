"""Broadcasts through the channels: the Telegram fake (progress edited in place, the cancel
button, markup arriving literally), the Graph API fake (a closed window gets the template),
and the real bot process killed mid-broadcast (nobody missed, nobody twice beyond what was
in flight)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.bench_broadcast import (
    FIRST_CHAT,
    SENDER_CHAT,
    environment,
    seed_and_queue,
    start,
)
from bot.app import Core
from bot.outbox.limits import TELEGRAM_LIMITS
from handlers.broadcast import CONFIRM, SEGMENT, SKIP_FILE
from storage.audit import CLI
from storage.broadcasts import PROGRESS_KIND
from storage.db import Database
from storage.models import Broadcast, Identity, Role, User, utcnow
from storage.outbox import OutboxMessage
from storage.roles import grant
from tests.chat import ID, ChatDriver
from tests.fakes.graph_api import FakeGraphApi, visible_text
from tests.fakes.telegram_api import FakeTelegramApi, TelegramRig, telegram_rig
from tests.test_telegram_e2e import Person, demo_core
from tests.test_whatsapp_e2e import Stack, open_stack, register

MARKUP = "<b>Rapat</b> & <i>penting</i> *tebal* _miring_ `kode`"


async def make_bappeda(core: Core, nip: str) -> None:
    async with core.database.writing(), core.database.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.nip == nip))
        assert user is not None
        await grant(session, CLI, user, Role.BAPPEDA, None)


async def add_telegram_asn(core: Core, fake: FakeTelegramApi, count: int) -> list[int]:
    chats = [fake.user(70_000 + n).id for n in range(count)]
    now = utcnow()
    async with core.database.writing(), core.database.sessions() as session, session.begin():
        for n, chat in enumerate(chats):
            user = User(full_name=f"ASN {n}", locale="id", registered_at=now)
            session.add(user)
            await session.flush()
            session.add(
                Identity(
                    user_id=user.id, channel="telegram", external_id=str(chat), last_inbound_at=now
                )
            )
    return chats


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[TelegramRig]:
    async with telegram_rig(tmp_path, "polling", demo_core, database_url=database_url) as rig:
        yield rig


async def compose_on_telegram(person: Person, text: str) -> None:
    await person.say("/siaran")
    await person.say(text)
    await person.press(SKIP_FILE)
    await person.press(f"{SEGMENT}all")
    await person.press(CONFIRM)


async def progress_message_id(core: Core) -> int | None:
    async with core.database.sessions() as session:
        broadcast = await session.scalar(select(Broadcast))
        assert broadcast is not None
        return broadcast.progress_message_id


async def test_telegram_progress_is_one_message_edited_and_markup_arrives_literally(
    rig: TelegramRig,
) -> None:
    core, fake = rig.core, rig.fake
    sender = Person(rig, fake.user(5001, "Agus"))
    await sender.register("Agus Wijaya", "197905102005011002")
    await make_bappeda(core, "197905102005011002")
    chats = await add_telegram_asn(core, fake, 3)
    await compose_on_telegram(sender, MARKUP)
    assert ID("broadcast.queued", id=1, count=3) in sender.text  # not the sender themself
    await core.sender.drain(["telegram"])  # the progress message and the broadcast
    for _ in range(3):
        await core.broadcasts.tick()
        await core.sender.drain(["telegram"])
    for chat in chats:
        (text,) = fake.texts_to(chat)
        assert text.endswith("\n\n" + MARKUP)  # as written: no tag parsed, nothing escaped
    sends = [c for c in fake.calls_of("sendMessage") if c.chat_id in chats]
    assert sends and all("parse_mode" not in c.params for c in sends)
    message_id = await progress_message_id(core)
    assert message_id is not None
    progress = fake.messages[(sender.user.id, message_id)]
    assert progress.text == ID("broadcast.progress", id=1, done=3, total=3, percent=100, sent=3)
    assert progress.buttons == []  # the cancel button is gone once it is over
    edits = [c for c in fake.calls_of("editMessageText") if c.chat_id == sender.user.id]
    assert edits
    report = [t for t in fake.texts_to(sender.user.id) if "Laporan siaran #1" in t]
    assert len(report) == 1 and "• terkirim: 3" in report[0]


async def test_the_cancel_button_on_the_progress_message_stops_the_rest(rig: TelegramRig) -> None:
    core, fake = rig.core, rig.fake
    sender = Person(rig, fake.user(5002, "Agus"))
    await sender.register("Agus Wijaya", "197905102005011002")
    await make_bappeda(core, "197905102005011002")
    chats = await add_telegram_asn(core, fake, 4)
    await compose_on_telegram(sender, "Siaran yang dibatalkan")
    await core.sender.send_due("telegram", kinds=[PROGRESS_KIND])  # only the progress message
    await core.broadcasts.tick()  # its id is recorded
    message_id = await progress_message_id(core)
    assert message_id is not None
    progress = fake.messages[(sender.user.id, message_id)]
    (button,) = progress.buttons
    replies = await sender._settle(fake.press(sender.user, progress, button[1]))
    assert ID("broadcast.cancelled", id=1, count=4, flight=0) in "\n".join(
        m.text or "" for m in replies
    )
    for _ in range(3):
        await core.broadcasts.tick()
        await core.sender.drain(["telegram"])
    assert all(fake.count_to(chat) == 0 for chat in chats)
    report = [t for t in fake.texts_to(sender.user.id) if "Laporan siaran #1" in t]
    assert len(report) == 1 and "• dibatalkan: 4" in report[0]
    assert fake.messages[(sender.user.id, message_id)].buttons == []


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES
    from bot.config import Settings

    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        attachments_dir=tmp_path / "attachments",
    )
    async with demo_core(settings) as core:
        opened = await open_stack(core, fake, tmp_path)
        try:
            yield opened
        finally:
            await opened.close()
    await fake.close()
    assert fake.violations == []


async def test_whatsapp_gets_text_as_written_or_the_template_when_the_window_closed(
    stack: Stack,
) -> None:
    open_user = stack.user("6281111111111", "Rina")
    await register(open_user)
    closed_user = stack.user("6282222222222", "Sari")
    await register(closed_user, "Sari Dewi", "198811202012022004")
    async with stack.core.database.writing(), stack.core.database.sessions() as s, s.begin():
        await s.execute(
            Identity.__table__.update()  # type: ignore[attr-defined]
            .where(Identity.external_id == "6282222222222")
            .values(last_inbound_at=utcnow() - timedelta(hours=30))
        )
    terminal = ChatDriver(stack.core)
    await terminal.register(
        "bappeda", "Agus Wijaya", "197905102005011002", "perencanaan", "Bappeda"
    )
    await make_bappeda(stack.core, "197905102005011002")
    await terminal.say("bappeda", "/siaran")
    await terminal.say("bappeda", MARKUP)
    await terminal.press("bappeda", SKIP_FILE)
    await terminal.press("bappeda", f"{SEGMENT}all")
    assert ID("broadcast.preview_templates", count=1) in terminal.text("bappeda")
    await terminal.press("bappeda", CONFIRM)
    open_user.new_messages()
    closed_user.new_messages()
    await stack.core.sender.drain(["whatsapp"])
    (free,) = open_user.new_messages()
    # WhatsApp's own rendering of *tebal* is the recipient app's, as if the sender had typed
    # it there; SASI sends the characters unchanged and adds no formatting of its own.
    assert visible_text(free) == (
        ID("broadcast.header", sender="Agus Wijaya (Bappeda)") + "\n\n" + MARKUP
    )
    (template,) = closed_user.new_messages()
    assert template["type"] == "template" and template["template"]["name"] == "sasi_siaran"
    parameters = [p["text"] for p in template["template"]["components"][0]["parameters"]]
    assert parameters == ["Agus Wijaya (Bappeda)", MARKUP]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_bot_killed_mid_broadcast_neither_repeats_nor_skips(
    tmp_path: Path, database_url: str
) -> None:
    people = 120
    async with FakeTelegramApi() as fake:
        fake.enforce_limits = True
        fake.user(SENDER_CHAT, "Agus")
        chats = [fake.user(FIRST_CHAT + n).id for n in range(people)]
        env = environment(tmp_path, fake)
        (tmp_path / "data").mkdir()
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "migrate", env=env, cwd=env["SASI_DATA_DIR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert await migrate.wait() == 0
        assert await seed_and_queue(env["SASI_DATABASE_URL"], people) == people
        log = tmp_path / "bot.log"
        bot = start(env, log)
        try:
            await fake.wait_for(lambda: sum(1 for c in chats if fake.count_to(c)) >= 40, 120)
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=30)
            bot = start(env, log)
            await fake.wait_for(
                lambda: any("Laporan siaran" in t for t in fake.texts_to(SENDER_CHAT)), 120
            )
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
                bot.wait(timeout=60)
    counts = [fake.count_to(c) for c in chats]
    assert min(counts) == 1  # nobody missed
    assert sum(counts) - people <= TELEGRAM_LIMITS.max_in_flight  # only what was in flight
    # A second copy only where the killed process had the request out and no answer
    # recorded: those rows, and only those, were taken over in doubt.
    database = Database(env["SASI_DATABASE_URL"])
    try:
        async with database.sessions() as session:
            doubt = {
                int(r)
                for r in await session.scalars(
                    select(OutboxMessage.recipient).where(OutboxMessage.in_doubt.is_(True))
                )
            }
    finally:
        await database.dispose()
    twice = {c for c, n in zip(chats, counts, strict=True) if n > 1}
    assert twice <= doubt
    assert fake.flood_refusals == 0
    reports = [t for t in fake.texts_to(SENDER_CHAT) if "Laporan siaran" in t]
    assert len(reports) == 1
    errors = [line for line in log.read_text().splitlines() if " ERROR bot" in line]
    assert errors == [], errors


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sends_in_flight_at_a_kill_are_sent_again_and_counted_in_doubt(
    tmp_path: Path, database_url: str
) -> None:
    """SASI's choice for a send whose request left before a kill and whose answer it never
    recorded: send it again (nobody missed), mark it in doubt (the report and the bench
    count it). Two kills: one with Telegram's answers held (the messages had arrived: those
    people get it twice), one with the requests held (they had not: once)."""
    people = 40
    async with FakeTelegramApi() as fake:
        fake.enforce_limits = True
        fake.user(SENDER_CHAT, "Agus")
        chats = [fake.user(FIRST_CHAT + n).id for n in range(people)]
        env = environment(tmp_path, fake)
        (tmp_path / "data").mkdir()
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "migrate", env=env, cwd=env["SASI_DATA_DIR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert await migrate.wait() == 0
        await seed_and_queue(env["SASI_DATABASE_URL"], people)
        log = tmp_path / "bot.log"

        def delivered() -> int:
            return sum(1 for c in chats if fake.count_to(c))

        bot = start(env, log)
        try:
            await fake.wait_for(lambda: delivered() >= 5, 120)
            fake.answers_open.clear()  # delivered, but the bot hears nothing back
            await fake.wait_for(lambda: fake.answers_held >= 1, 60)
            await asyncio.sleep(0.5)  # everything the bot had started has arrived by now
            arrived_unanswered = fake.answers_held
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=30)
            fake.answers_open.set()
            bot = start(env, log)
            seen = delivered()
            await fake.wait_for(lambda: delivered() >= seen + 5, 120)
            fake.sends_open.clear()  # the requests go, nothing arrives
            await fake.wait_for(lambda: fake.held >= 1, 60)
            await asyncio.sleep(0.5)
            never_arrived = fake.held
            bot.send_signal(signal.SIGKILL)
            bot.wait(timeout=30)
            await asyncio.sleep(0.3)  # the fake notices the connections are gone
            fake.sends_open.set()
            bot = start(env, log)
            await fake.wait_for(
                lambda: any("Laporan siaran" in t for t in fake.texts_to(SENDER_CHAT)), 120
            )
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
                bot.wait(timeout=60)
    database = Database(env["SASI_DATABASE_URL"])
    try:
        async with database.sessions() as session:
            doubt = {
                int(r)
                for r in await session.scalars(
                    select(OutboxMessage.recipient).where(
                        OutboxMessage.in_doubt.is_(True), OutboxMessage.kind == "broadcast"
                    )
                )
            }
    finally:
        await database.dispose()
    counts = {c: fake.count_to(c) for c in chats}
    twice = {c for c, n in counts.items() if n == 2}
    assert min(counts.values()) == 1 and max(counts.values()) <= 2  # nobody missed
    assert len(twice) == arrived_unanswered >= 1
    assert len(doubt) == arrived_unanswered + never_arrived and twice <= doubt
    (report,) = [t for t in fake.texts_to(SENDER_CHAT) if "Laporan siaran" in t]
    assert ID("broadcast.report_in_doubt", count=len(doubt)) in report
    errors = [line for line in log.read_text().splitlines() if " ERROR bot" in line]
    assert errors == [], errors
