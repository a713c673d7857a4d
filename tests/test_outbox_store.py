"""The outbox's store and sender on every backend: claims, two senders, working time,
housekeeping."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.app import Core, FunctionPort
from bot.calendar.working_time import WorkingTime
from bot.outbox.sender import OutboxSender
from handlers.messages import Reply, TemplateCall, outbox_payload
from storage.db import Database
from storage.inbound import InboundStore
from storage.models import InboundUpdate, utcnow
from storage.outbox import NewMessage, OutboxMessage, OutboxState, OutboxStore

WIB = ZoneInfo("Asia/Jakarta")


@dataclass
class Recorder:
    got: list[str] = field(default_factory=list)
    delay: float = 0.0

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        await asyncio.sleep(self.delay)  # a send takes a moment, as over a network
        self.got.append(replies[0].text)


def rows(n: int, *, due: datetime | None = None, working_time: bool = False) -> list[NewMessage]:
    return [
        NewMessage(
            key=f"broadcast:1:{i}",
            kind="broadcast",
            channel="terminal",
            recipient=f"asn{i % 50}",
            payload=outbox_payload([Reply(f"pesan {i}")]),
            due_at=due or utcnow(),
            working_time=working_time,
        )
        for i in range(n)
    ]


async def test_adding_a_key_twice_adds_it_once(core: Core) -> None:
    assert await core.outbox.add(rows(3)) == 3
    assert await core.outbox.add(rows(5)) == 2


async def test_two_senders_at_once_deliver_every_message_exactly_once(core: Core) -> None:
    # Two workers, each with its own connections, as two processes would have.
    await core.outbox.add(rows(400))
    second_db = Database(core.settings.database_url)
    try:
        recorders = [Recorder(delay=0.001), Recorder(delay=0.001)]
        senders = []
        for database, recorder in zip((core.database, second_db), recorders, strict=True):
            sender = OutboxSender(OutboxStore(database))
            sender.register(FunctionPort("terminal", recorder))
            senders.append(sender)
        await asyncio.gather(*(s.drain() for s in senders))
    finally:
        await second_db.dispose()
    got = Counter(text for r in recorders for text in r.got)
    assert len(got) == 400 and set(got.values()) == {1}
    if not core.database.is_sqlite:
        assert all(r.got for r in recorders)  # on PostgreSQL both really sent
    counts = await core.outbox.counts()
    assert counts == {OutboxState.SENT.value: 400}


async def test_a_dead_workers_claims_are_sent_by_the_next_and_finished_ones_never_again(
    core: Core,
) -> None:
    await core.outbox.add(rows(10))
    dead = OutboxStore(core.database, worker="gone-host:1:abc")  # claimed, then killed
    claimed = await dead.claim(utcnow(), ["terminal"], 6, lease=timedelta(seconds=-1))
    for row in claimed[:2]:  # two had gone out and been recorded before the kill
        await dead.finish(row.id, OutboxState.SENT)
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await core.sender.drain()
    assert len(recorder.got) == 8  # the other four claimed ones and the four never claimed
    assert (await core.outbox.counts()) == {OutboxState.SENT.value: 10}


async def test_a_message_for_working_time_waits_for_the_next_open_hour(core: Core) -> None:
    saturday_night = datetime(2027, 3, 6, 22, 0, tzinfo=WIB).astimezone(UTC)
    hours = WorkingTime(WIB)

    async def open_hours() -> WorkingTime:
        return hours

    sender = OutboxSender(core.outbox, clock=lambda: saturday_night, open_hours=open_hours)
    recorder = Recorder()
    sender.register(FunctionPort("terminal", recorder))
    await core.outbox.add(rows(1, due=saturday_night, working_time=True))
    await sender.drain()
    assert recorder.got == []
    async with core.database.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.state == OutboxState.PENDING
    # Monday 8 March 2027 is Nyepi, Tuesday 9 the start of cuti bersama for Idul Fitri … so
    # the first open moment is Tuesday 16 March at 07:00.
    assert row.due_at.astimezone(WIB) == hours.next_open(saturday_night).astimezone(WIB)
    assert row.due_at.astimezone(WIB) >= saturday_night


async def test_housekeeping_deletes_old_finished_rows_and_processed_updates(core: Core) -> None:
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await core.outbox.add(rows(3))
    await core.sender.drain()
    await core.outbox.add([*rows(4)][3:])  # one still pending
    await InboundStore(core.database).mark_processed("telegram", "1")
    later = utcnow() + timedelta(days=91)
    assert await core.outbox.housekeeping(later, timedelta(days=90)) == (3, 1)
    async with core.database.sessions() as session:
        left = await session.scalar(select(func.count()).select_from(OutboxMessage))
        updates = await session.scalar(select(func.count()).select_from(InboundUpdate))
    assert (left, updates) == (1, 0)


@pytest.mark.parametrize("text", ["", "x" * 4096])
async def test_odd_texts_survive_the_round_trip(core: Core, text: str) -> None:
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await core.outbox.add(
        [
            NewMessage(
                key="odd",
                kind="broadcast",
                channel="terminal",
                recipient="asn",
                payload=outbox_payload([Reply(text + "<b>*😀*</b>")]),
                due_at=utcnow(),
            )
        ]
    )
    await core.sender.drain()
    assert recorder.got == [text + "<b>*😀*</b>"]
