"""``/siaran``: composing, segments scoped by role, the preview, confirming, cancelling, and
the progress and report the sender gets (on a channel without edits: progress lines)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from handlers.broadcast import CONFIRM, MAX_TEXT, SEGMENT, SKIP_FILE, STAGE
from handlers.messages import Attachment, Reply, TemplateCall
from storage.broadcasts import KIND
from storage.models import (
    Broadcast,
    Idea,
    Identity,
    MonitoringReport,
    Stage,
    utcnow,
)
from storage.outbox import OutboxMessage, OutboxState
from tests.chat import ID, ChatDriver
from tests.roles_world import World, build_world


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    return await build_world(chat)


async def compose(chat: ChatDriver, person: str, text: str = "Rapat Senin pukul 09.00.") -> None:
    await chat.say(person, "/siaran")
    assert ID("broadcast.ask_text", limit=MAX_TEXT) in chat.text(person), chat.text(person)
    await chat.say(person, text)
    await chat.press(person, SKIP_FILE)


async def recipients(world: World, broadcast_id: int | None = None) -> dict[str, str]:
    """recipient → state of every broadcast row."""
    async with world.chat.core.database.sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.kind == KIND)
        if broadcast_id is not None:
            query = query.where(OutboxMessage.key.startswith(f"broadcast:{broadcast_id}:"))
        return {m.recipient: m.state for m in await session.scalars(query)}


async def only_broadcast(world: World) -> Broadcast:
    async with world.chat.core.database.sessions() as session:
        found = list(await session.scalars(select(Broadcast)))
    assert len(found) == 1
    return found[0]


def segment_payloads(chat: ChatDriver, person: str) -> set[str]:
    return {c.payload for c in chat.choices(person) if c.payload.startswith(SEGMENT)}


async def test_a_coordinator_is_offered_only_their_opds(world: World) -> None:
    chat = world.chat
    await compose(chat, "coordinator")
    assert "Dinkes" in chat.text("coordinator")
    assert segment_payloads(chat, "coordinator") == {
        f"{SEGMENT}all",
        f"{SEGMENT}stage",
        f"{SEGMENT}overdue",
    }
    # A forged payload (not offered) changes nothing.
    replies = await chat.press("coordinator", f"{SEGMENT}coordinators")
    assert replies[0].text in (ID("input.stale_button"), ID("access.denied"))
    await chat.press("coordinator", f"{SEGMENT}all")
    text = chat.text("coordinator")
    assert ID("broadcast.preview_total", count=1) in text  # the ASN of Dinkes; not themself
    assert ID("broadcast.preview_channel", channel=ID("channel.terminal"), count=1) in text
    await chat.press("coordinator", CONFIRM)
    assert await recipients(world) == {"asn": OutboxState.PENDING}


async def test_bappeda_reaches_everyone_and_the_coordinators(world: World) -> None:
    chat = world.chat
    await compose(chat, "bappeda")
    assert segment_payloads(chat, "bappeda") == {
        f"{SEGMENT}{k}" for k in ("all", "opd", "stage", "overdue", "coordinators")
    }
    await chat.press("bappeda", f"{SEGMENT}coordinators")
    assert ID("broadcast.preview_total", count=2) in chat.text("bappeda")
    await chat.press("bappeda", CONFIRM)
    assert set(await recipients(world)) == {"coordinator", "other_coordinator"}


async def test_bappeda_picks_one_opd(world: World) -> None:
    chat = world.chat
    await compose(chat, "admin")
    await chat.press("admin", f"{SEGMENT}opd")
    await chat.say("admin", "kependudukan")
    await chat.pick("admin", "Disdukcapil")
    assert ID("broadcast.preview_total", count=1) in chat.text("admin")
    await chat.press("admin", CONFIRM)
    assert set(await recipients(world)) == {"other_coordinator"}


async def test_stage_and_overdue_segments_follow_the_ideas(world: World) -> None:
    chat = world.chat
    await chat.submit_idea("asn", "Antrian daring puskesmas", "Antrian panjang", "Daftar daring")
    async with chat.core.database.writing(), chat.core.database.sessions() as s, s.begin():
        await s.execute(update(Idea).values(stage=Stage.DELIVER))
    # The coordinator of another OPD finds nobody in Deliver among theirs.
    await compose(chat, "other_coordinator")
    await chat.press("other_coordinator", f"{SEGMENT}stage")
    await chat.press("other_coordinator", f"{STAGE}deliver")
    assert ID("broadcast.nobody") in chat.text("other_coordinator")
    assert not any(c.payload == CONFIRM for c in chat.choices("other_coordinator"))
    await chat.say("other_coordinator", "/batal")
    # Dinkes' coordinator: the owner has not reported this month.
    await compose(chat, "coordinator")
    await chat.press("coordinator", f"{SEGMENT}overdue")
    assert ID("broadcast.preview_total", count=1) in chat.text("coordinator")
    await chat.say("coordinator", "/batal")
    async with chat.core.database.writing(), chat.core.database.sessions() as s, s.begin():
        idea = await s.scalar(select(Idea))
        assert idea is not None
        period = utcnow().astimezone(chat.core.settings.tz).strftime("%Y-%m")
        s.add(
            MonitoringReport(idea_id=idea.id, period=period, progress=50, done="x", next_step="y")
        )
    await compose(chat, "coordinator")
    await chat.press("coordinator", f"{SEGMENT}overdue")
    assert ID("broadcast.nobody") in chat.text("coordinator")


async def test_the_preview_counts_closed_whatsapp_windows_and_the_unreachable(
    world: World,
) -> None:
    chat = world.chat
    async with chat.core.database.writing(), chat.core.database.sessions() as s, s.begin():
        s.add(
            Identity(
                user_id=world.users["asn"],
                channel="whatsapp",
                external_id="6281234567890",
                last_inbound_at=utcnow() - timedelta(hours=30),
            )
        )
        await s.execute(
            update(Identity)
            .where(Identity.user_id == world.users["other_coordinator"])
            .values(blocked_at=utcnow())
        )
    await compose(chat, "bappeda")
    await chat.press("bappeda", f"{SEGMENT}all")
    text = chat.text("bappeda")
    assert ID("broadcast.preview_total", count=3) in text  # asn, coordinator, admin
    assert ID("broadcast.preview_channel", channel=ID("channel.whatsapp"), count=1) in text
    assert ID("broadcast.preview_channel", channel=ID("channel.terminal"), count=2) in text
    assert ID("broadcast.preview_templates", count=1) in text
    assert ID("broadcast.preview_unreachable", count=1) in text
    await chat.press("bappeda", CONFIRM)
    async with chat.core.database.sessions() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.recipient == "6281234567890")
        )
    assert row is not None and row.payload["template"]["purpose"] == "broadcast"
    assert row.payload["template"]["parameters"][1] == "Rapat Senin pukul 09.00."


async def test_confirming_twice_makes_one_broadcast(world: World) -> None:
    chat = world.chat
    await compose(chat, "bappeda")
    await chat.press("bappeda", f"{SEGMENT}all")
    first = await chat.press("bappeda", CONFIRM)
    again = await chat.press("bappeda", CONFIRM)
    broadcast = await only_broadcast(world)
    assert first[0].text == ID("broadcast.queued", id=broadcast.id, count=4)
    assert again[0].text == ID("input.stale_button")
    assert len(await recipients(world)) == 4


async def test_bad_input_while_composing(world: World, tmp_path: Path) -> None:
    chat = world.chat
    await chat.say("coordinator", "/siaran")
    replies = await chat.say("coordinator", "x" * 4000)
    assert replies[0].text == ID("broadcast.too_long", limit=MAX_TEXT, length=4000)
    replies = await chat.say("coordinator", "")
    assert replies[0].text == ID("input.text_expected")
    replies = await chat.say("coordinator", None, unsupported="sticker")
    assert replies[0].text == ID("input.unsupported")
    await chat.say("coordinator", "Teks dengan emoji 🎉 dan <b>tag</b> & *bintang*")
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8")
    replies = await chat.attach("coordinator", Attachment("photo", photo, "foto.jpg"))
    assert replies[0].text == ID("broadcast.document_expected")
    document = tmp_path / "undangan.pdf"
    document.write_bytes(b"%PDF-1.4")
    await chat.attach(
        "coordinator", Attachment("document", document, "undangan.pdf", "application/pdf")
    )
    assert segment_payloads(chat, "coordinator")
    await chat.press("coordinator", f"{SEGMENT}all")
    assert ID("broadcast.preview_file", name="undangan.pdf") in chat.text("coordinator")
    await chat.press("coordinator", CONFIRM)
    async with chat.core.database.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == KIND))
    assert row is not None
    reply = row.payload["replies"][0]
    assert reply["text"].endswith("Teks dengan emoji 🎉 dan <b>tag</b> & *bintang*")
    assert reply["file"]["file_name"] == "undangan.pdf"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply], TemplateCall | None]] = []

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.sent.append((external_id, list(replies), template))

    def texts_to(self, who: str) -> list[str]:
        return [r.text for e, rs, _ in self.sent if e == who for r in rs]


async def test_progress_lines_and_the_final_report(world: World) -> None:
    chat = world.chat
    core = chat.core
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await compose(chat, "bappeda")
    await chat.press("bappeda", f"{SEGMENT}all")
    await chat.press("bappeda", CONFIRM)
    broadcast = await only_broadcast(world)
    await core.sender.drain(["terminal"])
    await core.broadcasts.tick()
    await core.sender.drain(["terminal"])
    await core.broadcasts.tick()  # nothing new: no repeated line or report
    await core.sender.drain(["terminal"])
    to_sender = recorder.texts_to("bappeda")
    expected = ID(
        "broadcast.report",
        id=broadcast.id,
        total=4,
        sent=4,
        failed=0,
        blocked=0,
        no_template=0,
        cancelled=0,
        unreachable=0,
    )
    # The first progress message, then (all went between two looks) only the report, once.
    assert to_sender == [
        ID("broadcast.progress", id=broadcast.id, done=0, total=4, percent=0, sent=0),
        expected,
    ]
    for person in ("asn", "coordinator", "other_coordinator", "admin"):
        (text,) = recorder.texts_to(person)
        assert text == ID("broadcast.header", sender="Agus Wijaya (Bappeda)") + (
            "\n\nRapat Senin pukul 09.00."
        )


async def test_cancel_midway_by_the_sender_or_bappeda_only(world: World) -> None:
    chat = world.chat
    core = chat.core
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await compose(chat, "admin")
    await chat.press("admin", f"{SEGMENT}all")
    await chat.press("admin", CONFIRM)
    broadcast = await only_broadcast(world)
    async with core.database.writing(), core.database.sessions() as s, s.begin():
        # One went already, one is in flight.
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == f"broadcast:{broadcast.id}:{world.users['asn']}")
            .values(state=OutboxState.SENT)
        )
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == f"broadcast:{broadcast.id}:{world.users['coordinator']}")
            .values(state=OutboxState.SENDING, claimed_by="elsewhere", lease_until=utcnow())
        )
    replies = await chat.say("coordinator", f"/siaran batal {broadcast.id}")
    assert replies[0].text == ID("access.denied")
    replies = await chat.say("bappeda", f"/siaran batal {broadcast.id}")
    assert replies[0].text == ID("broadcast.cancelled", id=broadcast.id, count=2, flight=1)
    states = await recipients(world)
    assert sorted(states.values()) == ["cancelled", "cancelled", "sending", "sent"]
    async with core.database.writing(), core.database.sessions() as s, s.begin():
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.SENDING)
            .values(state=OutboxState.SENT)
        )
    await core.broadcasts.tick()
    await core.sender.drain(["terminal"])
    (report,) = [t for t in recorder.texts_to("admin") if "• dibatalkan" in t]
    assert "• dibatalkan: 2" in report and "• terkirim: 2" in report
    replies = await chat.say("admin", f"/siaran batal {broadcast.id}")
    assert replies[0].text == ID("broadcast.already_finished", id=broadcast.id)
    async with core.database.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert total is not None


async def test_every_row_of_a_broadcast_carries_its_id_and_progress_counts_by_it(
    world: World,
) -> None:
    from sqlalchemy import inspect

    from storage.broadcasts import state_counts

    chat = world.chat
    core = chat.core
    core.register_sender("terminal", Recorder())
    await compose(chat, "bappeda")
    await chat.press("bappeda", f"{SEGMENT}all")
    await chat.press("bappeda", CONFIRM)
    broadcast = await only_broadcast(world)
    async with core.database.sessions() as session:
        tagged = list(
            await session.execute(
                select(OutboxMessage.kind, OutboxMessage.broadcast_id).where(
                    OutboxMessage.key.startswith(f"broadcast:{broadcast.id}:")
                )
            )
        )
    assert sorted(tagged) == [("broadcast", broadcast.id)] * 4 + [
        ("broadcast_status", broadcast.id)
    ]
    async with core.database.writing(), core.database.sessions() as s, s.begin():
        # A row keyed like the broadcast's but not one of its rows is not counted (the
        # progress no longer goes by keys).
        s.add(
            OutboxMessage(
                key=f"broadcast:{broadcast.id}:imported",
                kind=KIND,
                channel="terminal",
                recipient="x",
                payload={},
                due_at=utcnow(),
                state=OutboxState.PENDING,
            )
        )
    async with core.database.sessions() as session:
        assert await state_counts(session, broadcast.id) == {OutboxState.PENDING.value: 4}

        def indexes(connection: object) -> list[list[str | None]]:
            found = inspect(connection).get_indexes("outbox")  # type: ignore[arg-type]
            return [list(i["column_names"]) for i in found]

        connection = await session.connection()
        assert ["broadcast_id", "state"] in await connection.run_sync(indexes)


async def test_the_report_says_how_many_were_sent_again_after_a_crash(world: World) -> None:
    chat = world.chat
    core = chat.core
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await compose(chat, "bappeda")
    await chat.press("bappeda", f"{SEGMENT}all")
    await chat.press("bappeda", CONFIRM)
    broadcast = await only_broadcast(world)
    async with core.database.writing(), core.database.sessions() as s, s.begin():
        # Taken over from a worker killed with its request out (see the outbox).
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == f"broadcast:{broadcast.id}:{world.users['asn']}")
            .values(in_doubt=True)
        )
    await core.sender.drain(["terminal"])
    await core.broadcasts.tick()
    await core.sender.drain(["terminal"])
    (report,) = [t for t in recorder.texts_to("bappeda") if "Laporan siaran" in t]
    assert report.endswith("\n" + ID("broadcast.report_in_doubt", count=1))


async def test_the_migration_gives_existing_broadcast_rows_their_broadcast(
    tmp_path: Path,
) -> None:
    """Broadcasts queued before outbox rows had a broadcast_id (revision 0012) keep being
    counted: the migration fills it in from their keys."""
    import asyncio

    from alembic import command
    from sqlalchemy import text

    from storage.db import Database
    from storage.migrate import alembic_config, upgrade_to_head

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0012")
    database = Database(url)
    try:
        async with database.sessions() as session, session.begin():
            now = utcnow().isoformat()
            await session.execute(
                text(
                    "INSERT INTO broadcasts (id, draft_key, text, segment, counts, recipients,"
                    " progress_channel, progress_chat, locale, created_at) VALUES (7, 'd', 't',"
                    " '{}', '{}', 2, 'terminal', 'x', 'id', :now)"
                ),
                {"now": now},
            )
            for key, kind in [
                ("broadcast:7:1", "broadcast"),
                ("broadcast:7:2", "broadcast"),
                ("broadcast:7:report", "broadcast_status"),
                ("broadcast:70:1", "broadcast"),  # another broadcast's, gone since
                ("reply:terminal:1", "reply"),
            ]:
                await session.execute(
                    text(
                        "INSERT INTO outbox (key, kind, channel, recipient, payload, priority,"
                        " working_time, due_at, state, attempts, parts_sent, created_at)"
                        " VALUES (:key, :kind, 'terminal', 'x', '{}', 5, 0, :now, 'sent', 0, 0,"
                        " :now)"
                    ),
                    {"key": key, "kind": kind, "now": now},
                )
    finally:
        await database.dispose()
    await asyncio.to_thread(upgrade_to_head, url)
    database = Database(url)
    try:
        async with database.sessions() as session:
            found = dict(list(await session.execute(text("SELECT key, broadcast_id FROM outbox"))))
    finally:
        await database.dispose()
    assert found == {
        "broadcast:7:1": 7,
        "broadcast:7:2": 7,
        "broadcast:7:report": 7,
        "broadcast:70:1": None,
        "reply:terminal:1": None,
    }
