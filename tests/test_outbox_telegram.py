"""The outbox through the real Telegram stack: limits, flood control, results, durable replies.

The fake Bot API enforces Telegram's limits here (429 past 30 messages in a second, or two
to one chat within a second), so a sender that overruns them is caught.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.messages import Reply, TemplateCall, outbox_payload
from storage.models import Identity, utcnow
from storage.outbox import NewMessage, OutboxMessage, OutboxState
from tests.fakes.telegram_api import TelegramRig, telegram_rig
from tests.test_telegram_e2e import Person, demo_core


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> AsyncIterator[TelegramRig]:
    async with telegram_rig(tmp_path, "polling", demo_core, database_url=database_url) as rig:
        yield rig


def message(key: str, chat: int, text: str, **extra: object) -> NewMessage:
    return NewMessage(
        key=key,
        kind=str(extra.pop("kind", "broadcast")),
        channel="telegram",
        recipient=str(chat),
        payload=outbox_payload([Reply(text)], **extra),  # type: ignore[arg-type]
        due_at=utcnow(),
    )


async def states(rig: TelegramRig) -> dict[str, tuple[str, str | None]]:
    async with rig.core.database.sessions() as session:
        rows = await session.scalars(select(OutboxMessage))
        return {r.key: (r.state, r.result) for r in rows}


async def test_messages_go_out_within_telegrams_limits_in_order_per_chat(
    rig: TelegramRig,
) -> None:
    rig.fake.enforce_limits = True
    chats = [rig.fake.user(7000 + n).id for n in range(40)]
    await rig.core.outbox.add(
        [message(f"m:{c}:{k}", c, f"pesan {k}") for k in range(3) for c in chats]
    )
    assert await rig.core.sender.drain(["telegram"]) == 120
    assert rig.fake.flood_refusals == 0
    for chat in chats:
        assert rig.fake.texts_to(chat) == ["pesan 0", "pesan 1", "pesan 2"]
    assert {s for s, _ in (await states(rig)).values()} == {OutboxState.SENT}


async def test_flood_control_is_waited_out_and_the_message_still_goes(rig: TelegramRig) -> None:
    rig.fake.enforce_limits = True
    chat = rig.fake.user(7101).id
    rig.fake.fail_next("sendMessage", status=429, retry_after=1)
    await rig.core.outbox.add([message("flood", chat, "akhirnya")])
    await rig.core.sender.drain(["telegram"])
    assert (await states(rig))["flood"][0] == OutboxState.PENDING  # due again in a second
    await asyncio.sleep(1.1)
    await rig.core.sender.drain(["telegram"])
    assert (await states(rig))["flood"][0] == OutboxState.SENT
    assert rig.fake.texts_to(chat) == ["akhirnya"]


async def test_a_person_who_blocked_the_bot_is_recorded_and_not_tried_again(
    rig: TelegramRig,
) -> None:
    person = Person(rig, rig.fake.user(7102))
    await person.register()
    rig.fake.block(person.user)
    await rig.core.outbox.add([message("blocked", person.user.id, "halo")])
    await rig.core.sender.drain(["telegram"])
    assert (await states(rig))["blocked"][0] == OutboxState.BLOCKED
    async with rig.core.database.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(Identity.external_id == str(person.user.id))
        )
        assert identity is not None and identity.blocked_at is not None


async def test_a_permanent_error_fails_and_a_transient_one_is_retried(rig: TelegramRig) -> None:
    ok, bad = rig.fake.user(7103).id, rig.fake.user(7104).id
    rig.fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    await rig.core.outbox.add([message("bad", bad, "x")])
    await rig.core.sender.drain(["telegram"])
    rig.fake.fail_next("sendMessage", status=502, description="Bad Gateway")
    await rig.core.outbox.add([message("flaky", ok, "y")])
    await rig.core.sender.drain(["telegram"])
    found = await states(rig)
    assert (
        found["bad"][0] == OutboxState.FAILED
        and "chat not found" in (found["bad"][1] or "").lower()
    )
    assert found["flaky"][0] == OutboxState.PENDING  # retried with backoff
    async with rig.core.database.sessions() as session, session.begin():
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "flaky"))
        assert row is not None and row.attempts == 1
        row.due_at = utcnow()  # the backoff has passed
    await rig.core.sender.drain(["telegram"])
    assert (await states(rig))["flaky"][0] == OutboxState.SENT
    rig.fake.errors.clear()  # provoked on purpose


async def test_a_one_time_code_is_wiped_from_the_outbox_once_sent(rig: TelegramRig) -> None:
    chat = rig.fake.user(7105).id
    await rig.core.outbox.add(
        [message("code", chat, "Kode 123456", template=TemplateCall("link_code", ("123456",)),
                 sensitive=True)]
    )  # fmt: skip
    await rig.core.sender.drain(["telegram"])
    async with rig.core.database.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "code"))
    assert row is not None and row.state == OutboxState.SENT and row.payload == {}
    assert rig.fake.texts_to(chat) == ["Kode 123456"]


async def test_a_reply_that_could_not_be_sent_is_sent_by_the_outbox(rig: TelegramRig) -> None:
    person = Person(rig, rig.fake.user(7106))
    rig.fake.fail_next("sendMessage", times=1, status=502, description="Bad Gateway")
    await person.say("/mulai")
    assert rig.fake.texts_to(person.user.id) == []  # the answer was lost on the way
    async with rig.core.database.sessions() as session, session.begin():
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reply"))
        assert row is not None and row.state == OutboxState.PENDING
        row.due_at = utcnow() - timedelta(seconds=1)
    await rig.core.sender.drain(["telegram"])
    [welcome] = rig.fake.texts_to(person.user.id)
    assert "SASI" in welcome
    rig.fake.errors.clear()


async def test_replies_committed_by_a_process_that_died_are_sent_at_the_next_start(
    rig: TelegramRig,
) -> None:
    person = Person(rig, rig.fake.user(7107))
    await person.register()
    before = rig.fake.count_to(person.user.id)
    # A step committed, then the process died before sending: its reply row is still
    # claimed by a worker that no longer runs (on this host, with a pid that is gone).
    await rig.core.flush_sent()  # the marks of replies sent so far, written first
    async with rig.core.database.sessions() as session, session.begin():
        row = await session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "reply")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        assert row is not None
        row.state = OutboxState.SENDING.value
        row.sent_at = None
        row.claimed_by = f"{rig.core.outbox.worker.split(':')[0]}:999999:deadbeef"
        row.lease_until = utcnow() + timedelta(minutes=5)
    await rig.restart()
    # The new process sends it from its sending loop, not before the restart returns.
    await rig.fake.wait_for(lambda: rig.fake.count_to(person.user.id) >= before + 1, 15)
    await rig.fake.wait_idle()
    assert rig.fake.count_to(person.user.id) == before + 1  # the lost reply, once
