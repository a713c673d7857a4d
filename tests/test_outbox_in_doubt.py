"""A send in flight when its worker dies (issue 14's broadcast bench): the request is
recorded before it leaves, so a successor knows which claims may have arrived (in doubt,
sent again and marked) and which never left (sent again, nobody had them); a worker that
lost its lease does not send; the sending loop claims the next batch while it sends and
tells the broadcast progress when it runs dry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update

from bot.app import Core, FunctionPort
from bot.outbox.limits import UNLIMITED
from bot.outbox.sender import OutboxSender
from handlers.messages import Reply, TemplateCall
from storage.models import utcnow
from storage.outbox import OutboxMessage, OutboxState, OutboxStore
from tests.test_outbox_store import Recorder, rows


async def _row(core: Core, row_id: int) -> OutboxMessage:
    async with core.database.sessions() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


async def test_the_request_is_recorded_committed_before_it_leaves(core: Core) -> None:
    await core.outbox.add(rows(3))
    seen: list[tuple[str, bool]] = []

    async def deliver(
        recipient: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        # Read through another session, as a successor would after a kill right now.
        async with core.database.sessions() as session:
            attempted = await session.scalar(
                select(OutboxMessage.attempted_at).where(
                    OutboxMessage.recipient == recipient, OutboxMessage.state == "sending"
                )
            )
        seen.append((recipient, attempted is not None))

    core.register_sender("terminal", deliver)
    await core.sender.drain()
    assert sorted(seen) == [("asn0", True), ("asn1", True), ("asn2", True)]
    async with core.database.sessions() as session:
        left = list(await session.execute(select(OutboxMessage.state, OutboxMessage.attempted_at)))
    assert left == [(OutboxState.SENT.value, None)] * 3  # the outcome clears it


async def test_a_claim_killed_with_its_request_out_is_sent_again_and_marked_in_doubt(
    core: Core,
) -> None:
    await core.outbox.add(rows(4))
    dead = OutboxStore(core.database, worker="gone-host:1:abc")
    claimed = await dead.claim(utcnow(), ["terminal"], 4)
    await dead.finish(claimed[0].id, OutboxState.SENT)  # answered and recorded
    assert await dead.attempt(claimed[1].id)  # request out, then the kill
    # claimed[2] and claimed[3]: claimed, never tried.
    async with core.database.writing(), core.database.sessions() as s, s.begin():
        await s.execute(update(OutboxMessage).values(lease_until=utcnow() - timedelta(seconds=1)))
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    await core.sender.drain()
    assert sorted(recorder.got) == ["pesan 1", "pesan 2", "pesan 3"]
    doubt = await core.outbox.in_doubt()
    assert [r.id for r in doubt] == [claimed[1].id]
    assert (await core.outbox.counts()) == {OutboxState.SENT.value: 4}
    stored = await _row(core, claimed[1].id)
    assert stored.in_doubt and stored.attempted_at is None


async def test_a_worker_whose_lease_was_taken_over_does_not_send(core: Core) -> None:
    await core.outbox.add(rows(1))
    slow = OutboxStore(core.database, worker="slow-host:1:abc")
    (row,) = await slow.claim(utcnow(), ["terminal"], 1, lease=timedelta(seconds=-1))
    successor = OutboxStore(core.database, worker="next-host:2:def")
    assert len(await successor.claim(utcnow(), ["terminal"], 1)) == 1
    recorder = Recorder()
    sender = OutboxSender(slow)
    sender.register(FunctionPort("terminal", recorder))
    assert await sender._send(sender.ports["terminal"], row, [Reply("pesan 0")], None) == 0
    assert recorder.got == []
    assert not await slow.attempt(row.id)
    assert (await _row(core, row.id)).claimed_by == successor.worker


async def test_the_sending_loop_claims_batch_after_batch_in_one_pass(core: Core) -> None:
    """Unlimited channel: batches of 200. With ``more`` the pass goes on until the table
    is dry; without it (tests, a start's recovery), one batch per pass."""
    await core.outbox.add(rows(450))
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    assert await core.sender.send_due("terminal") == 200
    assert await core.sender.send_due("terminal", more=lambda: True) == 250
    assert len(recorder.got) == 450 and len(set(recorder.got)) == 450
    assert (await core.outbox.counts()) == {OutboxState.SENT.value: 450}


async def test_a_pass_told_to_stop_hands_its_unsent_claims_back_at_once(core: Core) -> None:
    """A graceful stop, or the replica losing the channel's election, ends the pass at the
    next row: what it claimed and did not start is pending again, for the next sender."""
    await core.outbox.add(rows(450))
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    claimed = await core.sender.send_due("terminal", more=lambda: len(recorder.got) < 250)
    assert claimed > 250  # the next batch was claimed before the stop
    sent = len(recorder.got)
    assert 250 <= sent <= 250 + UNLIMITED.max_in_flight  # those already started finish
    counts = await core.outbox.counts()
    assert counts == {OutboxState.SENT.value: sent, OutboxState.PENDING.value: 450 - sent}


async def test_the_loop_tells_when_a_channel_ran_dry_after_sending(core: Core) -> None:
    await core.outbox.add(rows(5))
    recorder = Recorder()
    core.register_sender("terminal", recorder)
    dry: list[str] = []
    idle = asyncio.Event()

    def on_idle(channel: str) -> None:
        dry.append(channel)
        idle.set()

    core.sender.on_idle = on_idle
    stop = asyncio.Event()
    loop = asyncio.create_task(core.sender.run(stop))
    try:
        async with asyncio.timeout(10):
            await idle.wait()
        assert len(recorder.got) == 5
        await asyncio.sleep(0.05)
        assert dry == ["terminal"]  # once per stretch of sending, not every empty look
    finally:
        stop.set()
        core.sender.wake()
        await loop
