"""Storage contract, on every backend: migrations match the models, updates are processed once."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app import Core
from storage.inbound import InboundStore, claim_update
from storage.models import Opd, User
from storage.schema import metadata


async def test_the_migrated_schema_matches_the_models(core: Core) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection)
        return list(compare_metadata(context, metadata))

    async with core.database.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_an_update_is_stored_once(core: Core) -> None:
    store = InboundStore(core.database)
    assert await store.store("telegram", "100", {"update_id": 100}) is True
    assert await store.store("telegram", "100", {"update_id": 100}) is False
    assert await store.store("whatsapp", "100", None) is True  # keys are per channel
    pending = await store.unprocessed("telegram")
    assert [(u.update_key, u.payload) for u in pending] == [("100", {"update_id": 100})]


async def test_a_polled_batch_is_stored_in_one_go_and_redeliveries_are_told_apart(
    core: Core,
) -> None:
    store = InboundStore(core.database)
    assert await store.store_many("telegram", [("1", {"update_id": 1}), ("2", None)]) == {"1", "2"}
    await store.mark_processed("telegram", "1")
    # A batch overlapping the first: the processed update is a redelivery; the unprocessed
    # one (say its store committed but the answer was lost) is still to be processed.
    batch = [("1", {}), ("2", None), ("3", {"update_id": 3})]
    assert await store.store_many("telegram", batch) == {"2", "3"}
    assert await store.store("telegram", "3", None) is False
    assert await store.store_many("telegram", []) == set()
    pending = await store.unprocessed("telegram")
    assert [(u.update_key, u.payload) for u in pending] == [("2", None), ("3", {"update_id": 3})]


async def test_sqlite_syncs_acknowledged_updates_to_disk_and_not_every_commit(
    core: Core,
) -> None:
    if not core.database.is_sqlite:
        pytest.skip("PostgreSQL syncs every commit; only SQLite's sync level is per connection")

    async def level(conn: AsyncConnection) -> int:
        return int((await conn.exec_driver_sql("PRAGMA synchronous")).scalar_one())

    full, normal = 2, 1
    async with core.database.engine.connect() as conn:
        assert await level(conn) == normal
    async with core.database.durable() as conn:
        assert await level(conn) == full
    with pytest.raises(RuntimeError):
        async with core.database.durable() as conn:
            raise RuntimeError("a failed store")
    # Pooled connections go back to the everyday level, whichever way the store ended.
    for _ in range(3):
        async with core.database.engine.connect() as conn:
            assert await level(conn) == normal


async def test_sqlite_runs_on_the_event_loop_without_worker_threads(core: Core) -> None:
    if not core.database.is_sqlite:
        pytest.skip("asyncpg has no worker threads to avoid")
    async with core.database.sessions() as session, session.begin():
        session.add(Opd(name="Dinas Uji", short_name="DU"))
    async with core.database.sessions() as session:
        assert await session.scalar(select(Opd.short_name).where(Opd.name == "Dinas Uji")) == "DU"
    workers = [t.name for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    assert workers == []


async def test_a_stored_update_is_claimed_once(core: Core) -> None:
    store = InboundStore(core.database)
    await store.store("telegram", "7", {})
    async with core.database.sessions() as session, session.begin():
        assert await claim_update(session, "telegram", "7") is True
    async with core.database.sessions() as session, session.begin():
        assert await claim_update(session, "telegram", "7") is False
    assert await store.is_processed("telegram", "7")
    assert await store.unprocessed("telegram") == []


async def test_a_claim_rolled_back_can_be_claimed_again(core: Core) -> None:
    async with core.database.sessions() as session, session.begin():
        assert await claim_update(session, "telegram", "8") is True
        await session.rollback()
    async with core.database.sessions() as session, session.begin():
        assert await claim_update(session, "telegram", "8") is True


async def test_two_workers_claiming_a_key_never_stored_process_it_once(core: Core) -> None:
    # Issue 20: on PostgreSQL the loser's INSERT hit the unique index and the person got the
    # internal-error reply; the conflict is a redelivery.
    if core.database.is_sqlite:
        pytest.skip("SQLite has one writer at a time: two claims cannot overlap here")
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> bool:
        async with core.database.sessions() as session, session.begin():
            claimed = await claim_update(session, "whatsapp", "never-stored")
            first_claimed.set()
            await release_first.wait()  # the row is inserted but not committed yet
            return claimed

    async def second() -> bool:
        await first_claimed.wait()
        async with core.database.sessions() as session, session.begin():
            return await claim_update(session, "whatsapp", "never-stored")

    racing = asyncio.ensure_future(second())
    winner = asyncio.ensure_future(first())
    await first_claimed.wait()
    await asyncio.sleep(0.2)  # the second claim now waits on the first one's row
    release_first.set()
    assert await winner is True
    assert await racing is False


async def test_unreadable_updates_are_set_aside_and_never_replayed(core: Core) -> None:
    store = InboundStore(core.database)
    await store.store("telegram", "1", {"update_id": 1, "message": "garbage"})
    await store.store("telegram", "2", {"update_id": 2})
    await store.set_aside("telegram", "1", "not an Update")
    await store.set_aside("telegram", "3", "not an Update", {"update_id": 3, "message": 5})
    assert [u.update_key for u in await store.unprocessed("telegram")] == ["2"]
    assert await store.set_aside_count("telegram") == 2


async def test_a_failure_that_may_pass_is_retried_a_few_times_then_set_aside(core: Core) -> None:
    store = InboundStore(core.database)
    await store.store("whatsapp", "m1", {"kind": "message"})
    assert await store.record_failure("whatsapp", "m1", "media fetch 500") is False
    assert [u.update_key for u in await store.unprocessed("whatsapp")] == ["m1"]
    assert await store.record_failure("whatsapp", "m1", "media fetch 500") is False
    assert await store.record_failure("whatsapp", "m1", "media fetch 500") is True
    assert await store.unprocessed("whatsapp") == []
    assert await store.record_failure("whatsapp", "m1", "again") is False  # already aside


async def test_datetimes_come_back_in_utc(core: Core) -> None:
    wib = timezone(timedelta(hours=7))
    moment = datetime(2027, 3, 1, 8, 30, tzinfo=wib)
    async with core.database.sessions() as session, session.begin():
        session.add(User(full_name="A", registered_at=moment))
    async with core.database.sessions() as session:
        user = await session.scalar(select(User))
    assert user is not None and user.registered_at == moment
    assert user.registered_at.tzinfo is not None
    assert user.registered_at.utcoffset() == UTC.utcoffset(None)


async def test_text_round_trips_exactly(core: Core) -> None:
    name = "Dinas <b>Kesehatan</b> *Kota* 🌟 — ĀĒ"
    async with core.database.sessions() as session, session.begin():
        session.add(Opd(name=name, short_name="Dinkes"))
    async with core.database.sessions() as session:
        assert await session.scalar(select(Opd.name)) == name


async def test_healthz_reports_the_database(core: Core) -> None:
    assert await core.database.ping() is True


async def test_an_update_whose_step_fails_is_not_replayed_later(core: Core) -> None:
    from handlers.messages import Incoming
    from tests.chat import ID

    store = InboundStore(core.database)
    await store.store("telegram", "55", {"update_id": 55})

    async def broken(*_args: object) -> list[object]:
        raise RuntimeError("a bug in a step")

    core.engine._converse = broken  # type: ignore[method-assign]
    outcome = await core.handle(
        Incoming(channel="telegram", sender_id="9", text="halo", update_key="55")
    )
    assert [r.text for r in outcome.replies] == [ID("error.internal")]
    assert await store.unprocessed("telegram") == []


async def test_the_backlog_pages_through_every_unprocessed_update(core: Core) -> None:
    store = InboundStore(core.database)
    for number in range(7):
        await store.store("telegram", str(number), {"n": number})
    await store.mark_processed("telegram", "3")
    keys = [u.update_key async for u in store.backlog("telegram", page=2)]
    assert keys == ["0", "1", "2", "4", "5", "6"]
