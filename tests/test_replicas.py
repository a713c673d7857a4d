"""Several replicas on one PostgreSQL (issue 17): one sender per token, one scheduler tick,
each update once, each person's turns in order, readiness and a graceful stop.

PostgreSQL only: SQLite is one process by design. Without ``SASI_TEST_DATABASE_URL`` every
test here is skipped, and says so.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import Core, FunctionPort, open_core
from bot.config import Settings
from bot.outbox.limits import TELEGRAM_LIMITS
from bot.scheduler.loop import Scheduler
from bot.web import Readiness, build_web_app, start_web_app
from handlers.i18n import Translator
from handlers.messages import Incoming, Reply, TemplateCall, coalesce
from storage.db import Database
from storage.leader import Elector
from storage.migrate import upgrade_to_head_async
from storage.models import (
    ConversationState,
    Idea,
    IdeaStatus,
    Identity,
    Opd,
    Programme,
    ProgrammeStage,
    Stage,
    User,
    utcnow,
)
from storage.outbox import NewMessage, OutboxMessage, OutboxState, OutboxStore
from tests.conftest import PG_URL
from tests.fakes.telegram_api import FakeTelegramApi, free_port

pytestmark = [
    pytest.mark.skipif(
        not PG_URL,
        reason="PostgreSQL NOT TESTED: replicas need SASI_TEST_DATABASE_URL=postgresql+asyncpg://…",
    ),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

ROOT = Path(__file__).resolve().parent.parent
# pg_locks shows every database's locks: only this one's count (other runs share the server).
_ADVISORY_LOCKS_HERE = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
WIB = ZoneInfo("Asia/Jakarta")
ID = Translator("id")


class Recorder:
    """A channel's sending side that records who got what (a FunctionPort's function)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []
        self.arrived = asyncio.Event()

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.sent.append((external_id, [r.text for r in replies]))
        self.arrived.set()

    def to(self, person: str) -> list[str]:
        return [text for who, texts in self.sent if who == person for text in texts]


async def _wait(predicate: object, within: float = 5.0) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[list[Core]]:
    """Two cores on one database, as two ``python -m bot run`` processes have them."""
    async with AsyncExitStack() as stack:
        cores = [await stack.enter_async_context(open_core(settings, migrate=False))]
        cores.append(await stack.enter_async_context(open_core(settings, migrate=False)))
        yield cores


# -- the sender election ---------------------------------------------------------------------


async def test_one_elector_leads_and_another_takes_over_when_the_holder_dies(
    database_url: str,
) -> None:
    first = Elector(database_url, "sender:test", retry_seconds=0.1)
    second = Elector(database_url, "sender:test", retry_seconds=0.1)
    stop = asyncio.Event()
    try:
        assert await first.step()
        assert not await second.step()
        runs = [asyncio.create_task(e.run(stop)) for e in (first, second)]
        await asyncio.sleep(0.3)
        assert first.is_leader and not second.is_leader  # the follower keeps trying, in vain
        # The holder's connection is cut from outside, as when its process is killed.
        pid = first._conn.get_server_pid()
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await engine.dispose()
        both = []

        def taken_over() -> bool:
            both.append(first.is_leader and second.is_leader)
            return second.is_leader

        took = await _wait(taken_over, within=5.0)
        assert took < 3.0
        await asyncio.sleep(0.3)
        assert second.is_leader and not first.is_leader
        # Never two leaders at a moment both claimed it: the old one noticed its loss first.
        assert not any(both[1:])
        stop.set()
        await asyncio.gather(*runs)
    finally:
        await first.close()
        await second.close()


async def test_a_leader_that_stops_hands_the_lock_over_at_once(database_url: str) -> None:
    first = Elector(database_url, "sender:test")
    second = Elector(database_url, "sender:test")
    try:
        assert await first.step()
        assert not await second.step()
        await first.close()
        assert await second.step()
    finally:
        await first.close()
        await second.close()


async def test_electors_of_different_tokens_both_lead(database_url: str) -> None:
    one = Elector(database_url, "sender:telegram:aaa")
    other = Elector(database_url, "sender:telegram:bbb")
    try:
        assert await one.step()
        assert await other.step()
    finally:
        await one.close()
        await other.close()


async def test_only_the_elected_replica_sends_and_the_other_wakes_it(
    replicas: list[Core],
) -> None:
    """A reply committed on the replica that does not send goes out through the one that
    does, woken by NOTIFY (its table poll is set to 30 s here, so only NOTIFY can wake it);
    when that one stops, the other takes over and sends its own replies."""
    a, b = replicas
    sends = {"a": Recorder(), "b": Recorder()}
    a.register_sender("telegram", sends["a"])
    b.register_sender("telegram", sends["b"])
    await a.resend_unsent_replies("telegram")  # joins the election first: elected
    await b.resend_unsent_replies("telegram")
    assert a.is_sender("telegram") and not b.is_sender("telegram")
    a.sender._poll = 30.0
    stop = asyncio.Event()
    sending = asyncio.create_task(a.sender.run(stop))
    try:
        await asyncio.sleep(0.1)  # the sender's first pass finds nothing and waits
        outcome = await b.handle(
            Incoming(channel="telegram", sender_id="4242", text="/mulai", update_key="u1")
        )
        assert outcome.queued and outcome.reply_id is None and outcome.replies
        waited = await _wait(lambda: sends["a"].to("4242"), within=5.0)
        assert waited < 2.0, waited
        assert sends["a"].to("4242") == [r.text for r in coalesce(outcome.replies)]
        assert not sends["b"].sent
        states: list[str] = []

        async def read_states() -> None:
            async with a.database.sessions() as session:
                states[:] = list(await session.scalars(select(OutboxMessage.state)))

        # The sending loop marks the replies it sent in one write shortly after.
        for _try in range(100):
            await read_states()
            if states != [OutboxState.SENDING.value]:
                break
            await asyncio.sleep(0.02)
        assert states == [OutboxState.SENT.value]
    finally:
        stop.set()
        a.sender.wake()
        await sending
    # The sender stops gracefully: its lock is free, the other replica takes over.
    await a.release()
    await b.election.electors["telegram"].step()  # type: ignore[union-attr]
    assert b.is_sender("telegram")
    outcome = await b.handle(
        Incoming(channel="telegram", sender_id="4242", text="Rina Marlina", update_key="u2")
    )
    assert not outcome.queued and outcome.reply_id is not None


async def test_a_one_time_code_on_the_other_replica_waits_for_the_sender(
    replicas: list[Core],
) -> None:
    """Messages for others (here a link code) are sent by the elected replica; the one that
    committed them waits for that before telling its person it went out."""
    a, b = replicas
    sends = Recorder()
    a.register_sender("telegram", sends)
    b.register_sender("telegram", Recorder())
    await a.resend_unsent_replies("telegram")
    await b.resend_unsent_replies("telegram")
    stop = asyncio.Event()
    sending = asyncio.create_task(a.sender.run(stop))
    try:
        async with b.database.writing(), b.database.sessions() as session, session.begin():
            await session.execute(
                insert(OutboxMessage),
                [
                    {
                        "key": "code:1",
                        "kind": "link_code",
                        "channel": "telegram",
                        "recipient": "99",
                        "payload": {"replies": [{"text": "kode 123456"}]},
                        "due_at": utcnow(),
                        "priority": 0,
                        "state": OutboxState.PENDING.value,
                        "created_at": utcnow(),
                    }
                ],
            )
        await b.election.notify(["telegram"])  # type: ignore[union-attr]
        await _wait(lambda: sends.to("99"))
        # The sender records the send just after it (b's own wait polls, as here).
        for _try in range(100):
            if await b.outbox.all_sent("telegram", ("link_code",), ("code:1",)):
                break
            await asyncio.sleep(0.02)
        assert await b.outbox.all_sent("telegram", ("link_code",), ("code:1",))
    finally:
        stop.set()
        a.sender.wake()
        await sending


class Budget:
    """One bot token as Telegram counts it, shared by every replica's sending side: each
    send's moment, and the sends that broke Telegram's 30 a second (the fake would 429)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.to: collections.Counter[str] = collections.Counter()
        self.over = 0
        self.sent_by: collections.Counter[str] = collections.Counter()

    def port(self, replica: str) -> FunctionPort:
        async def send(
            external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
        ) -> None:
            now = time.monotonic()
            if sum(1 for t in self.times[-40:] if now - t < 1.0) >= 30:
                self.over += 1
            self.times.append(now)
            self.to[external_id] += 1
            self.sent_by[replica] += 1

        return FunctionPort("telegram", send, TELEGRAM_LIMITS)


async def test_a_killed_sender_is_succeeded_within_the_shared_budget(
    replicas: list[Core],
) -> None:
    """The elected sender dies after a full second's budget; the other replica, elected at
    once, sends the rest of the backlog, and the two together never exceed 30 a second:
    the successor's limiter never saw its predecessor's sends, so it waits that second out."""
    a, b = replicas
    budget = Budget()
    a.sender.register(budget.port("a"))
    b.sender.register(budget.port("b"))
    await a.resend_unsent_replies("telegram")
    await b.resend_unsent_replies("telegram")
    assert a.is_sender("telegram") and not b.is_sender("telegram")
    await a.outbox.add(
        [
            NewMessage(
                key=f"broadcast:{n}", kind="broadcast", channel="telegram",
                recipient=str(1000 + n), payload={"replies": [{"text": f"Pesan {n}"}]},
                due_at=utcnow(),
            )
            for n in range(75)
        ]
    )  # fmt: skip
    stops = {"a": asyncio.Event(), "b": asyncio.Event()}
    sending_a = asyncio.create_task(a.sender.run(stops["a"]))
    sending_b = asyncio.create_task(b.sender.run(stops["b"]))
    try:
        await _wait(lambda: len(budget.times) >= 30)
        # a dies: its sending stops mid-pass and its lock's connection breaks.
        sending_a.cancel()
        await asyncio.gather(sending_a, return_exceptions=True)
        await a.election.electors["telegram"].kill_connection_for_tests()  # type: ignore[union-attr]
        await a.outbox.release_mine()  # what release_dead_claims does for a dead pid
        elector = b.election.electors["telegram"]  # type: ignore[union-attr]
        for _try in range(250):  # at once: the background tries could wait up to 2 s
            if await elector.step():
                break
            await asyncio.sleep(0.02)
        assert b.is_sender("telegram")
        await _wait(lambda: all(budget.to[str(1000 + n)] for n in range(75)), within=15.0)
        assert budget.sent_by["b"] > 0
        assert budget.over == 0
    finally:
        for stop in stops.values():
            stop.set()
        b.sender.wake()
        await asyncio.gather(sending_b, return_exceptions=True)


# -- inbound updates and conversations across replicas ----------------------------------------


async def test_the_same_update_on_two_replicas_is_processed_once(replicas: list[Core]) -> None:
    a, b = replicas
    for n in range(10):
        key = f"same-{n}"
        stored = await asyncio.gather(
            a.inbound.store("telegram", key, {"update_id": n}),
            b.inbound.store("telegram", key, {"update_id": n}),
        )
        assert sorted(stored) == [False, True]
        incoming = Incoming(channel="telegram", sender_id=f"7{n}", text="/mulai", update_key=key)
        outcomes = await asyncio.gather(a.handle(incoming), b.handle(incoming))
        assert sorted(o.duplicate for o in outcomes) == [False, True]
    async with a.database.sessions() as session:
        replies = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "reply")
        )
    assert replies == 10


async def test_two_updates_of_one_person_on_two_replicas_run_one_after_the_other(
    replicas: list[Core],
) -> None:
    a, b = replicas
    person = Incoming(channel="telegram", sender_id="5150", text="/mulai", update_key="start")
    await a.handle(person)
    error = ID("error.internal")
    for n in range(15):
        outcomes = await asyncio.gather(
            a.handle(dataclasses.replace(person, text="/bantuan", update_key=f"a{n}")),
            b.handle(dataclasses.replace(person, text="/bantuan", update_key=f"b{n}")),
        )
        for outcome in outcomes:
            assert not outcome.duplicate
            assert error not in "\n".join(r.text for r in outcome.replies)
    async with a.database.sessions() as session:
        version = await session.scalar(select(ConversationState.version))
    assert version == 1 + 2 * 15  # every turn saved over the one before, none lost


# -- the scheduler -------------------------------------------------------------------------------


async def _seed_due(url: str, ideas: int) -> None:
    engine = create_async_engine(url)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(insert(Opd).values(id=1, name="OPD 1", short_name="O1", created_at=now))
        pid = (
            await conn.execute(
                insert(Programme).values(name="Lab 2027", created_at=now).returning(Programme.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(ProgrammeStage),
            [
                {"programme_id": pid, "stage": Stage.DESIGN, "starts": date(2027, 4, 1),
                 "ends": date(2027, 5, 31)},
                {"programme_id": pid, "stage": Stage.DELIVER, "starts": date(2027, 6, 1),
                 "ends": date(2027, 11, 30)},
            ],
        )  # fmt: skip
        await conn.execute(insert(User), [
            {"id": n + 1, "full_name": f"ASN {n}", "opd_id": 1, "locale": "id",
             "registered_at": now, "created_at": now} for n in range(ideas)
        ])  # fmt: skip
        await conn.execute(insert(Identity), [
            {"user_id": n + 1, "channel": "telegram", "external_id": str(10**6 + n),
             "last_inbound_at": now, "created_at": now} for n in range(ideas)
        ])  # fmt: skip
        await conn.execute(insert(Idea), [
            {"name": f"Inovasi {n}", "problem": "Masalah", "idea": "Gagasan", "opd_id": 1,
             "owner_id": n + 1, "programme_id": pid, "stage": Stage.DESIGN,
             "status": IdeaStatus.SUBMITTED, "created_at": now, "updated_at": now}
            for n in range(ideas)
        ])  # fmt: skip
    await engine.dispose()


async def test_two_schedulers_ticking_at_once_queue_each_row_once(
    settings: Settings, database_url: str
) -> None:
    await _seed_due(database_url, 40)
    moment = datetime(2027, 5, 14, 9, 0, tzinfo=WIB).astimezone(UTC)  # 7 days before Design ends
    databases = [Database(database_url), Database(database_url)]
    try:
        schedulers = [Scheduler(db, settings, OutboxStore(db), lambda: moment) for db in databases]
        expected = len(await schedulers[0].due(moment))
        assert expected >= 40
        for _round in range(5):
            added = await asyncio.gather(*(s.tick() for s in schedulers))
            assert sum(added) in (0, expected)
        async with databases[0].sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
            keys = await session.scalar(
                select(func.count(func.distinct(OutboxMessage.key))).select_from(OutboxMessage)
            )
            locks = await session.scalar(_ADVISORY_LOCKS_HERE)
        assert rows == keys == expected
        assert locks == 0  # every tick gave its lock back
    finally:
        for db in databases:
            await db.dispose()


async def test_a_scheduler_skips_its_tick_while_another_replica_ticks(
    settings: Settings, database_url: str
) -> None:
    from bot.scheduler.loop import TICK_LOCK

    database = Database(database_url)
    try:
        scheduler = Scheduler(database, settings, OutboxStore(database), utcnow)
        async with database.engine.connect() as other:
            assert await other.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": TICK_LOCK})
            assert await scheduler.tick() == 0
            assert scheduler.skipped == 1
            await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": TICK_LOCK})
        await scheduler.tick()
        assert scheduler.skipped == 1
    finally:
        await database.dispose()


# -- readiness and a graceful stop ---------------------------------------------------------------


async def test_readyz_is_503_until_the_database_is_at_head(database_url: str) -> None:
    base = make_url(database_url)
    name = f"sasi_ready_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    readiness = Readiness(index_built=True, channels_started=True)
    port = free_port()
    runner = await start_web_app(build_web_app(database, [], readiness), "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> tuple[int, dict[str, str]]:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status, await response.json()

            status, body = await ready()
            assert status == 503 and "not at head" in body["reason"], body
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200  # reachable, just not ready
            await upgrade_to_head_async(url)
            assert await ready() == (200, {"status": "ready", "sending": []})
            readiness.stopping = True
            status, body = await ready()
            assert status == 503 and body["reason"] == "stopping"
            async with http.post(f"http://127.0.0.1:{port}/telegram/webhook") as response:
                assert response.status == 503  # not taken: the proxy tries another replica
    finally:
        await runner.cleanup()
        await database.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_a_graceful_stop_hands_outbox_claims_back(replicas: list[Core]) -> None:
    a, b = replicas
    now = utcnow()
    await a.outbox.add(
        [
            NewMessage(
                key=f"notice:{n}", kind="notice", channel="telegram", recipient=str(n),
                payload={"replies": [{"text": "Halo"}]}, due_at=now - timedelta(seconds=1),
            )
            for n in range(5)
        ]
    )  # fmt: skip
    claimed = await a.outbox.claim(utcnow(), ["telegram"], 10)
    assert len(claimed) == 5
    assert await b.outbox.claim(utcnow(), ["telegram"], 10) == []  # leased to a
    await a.release()
    again = await b.outbox.claim(utcnow(), ["telegram"], 10)
    assert sorted(c.key for c in again) == sorted(c.key for c in claimed)


def _spawn(env: dict[str, str], cwd: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], env=env, cwd=cwd, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


async def test_a_second_poller_is_told_polling_is_single_process(
    replicas: list[Core], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.channels.telegram import POLL_CONFLICT_MESSAGE, TelegramChannel

    async with FakeTelegramApi() as fake:
        polling = dataclasses.replace(
            settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.base_url
        )
        channels = [TelegramChannel(polling, core, poll_timeout=0.5) for core in replicas]
        for channel in channels:
            await channel.start()
        try:
            await _wait(lambda: any(c.poll_conflicts for c in channels), within=10.0)
        finally:
            for channel in channels:
                await channel.stop()
        assert fake.poll_conflicts
        assert POLL_CONFLICT_MESSAGE in caplog.text


async def test_sigterm_drains_the_replica_and_exits_0(database_url: str, tmp_path: Path) -> None:
    """The real process in webhook mode: ready, then SIGTERM: /readyz goes 503, it finishes
    and exits 0, its sender lock free for the next replica."""
    async with FakeTelegramApi() as fake:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SASI_", "TELEGRAM_"))}
        env.update(
            SASI_DATABASE_URL=database_url,
            SASI_DATA_DIR=str(tmp_path / "data"),
            SASI_HTTP_HOST="127.0.0.1",
            SASI_HTTP_PORT=str(port),
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET="s3cret",
            PYTHONPATH=str(ROOT),
        )
        (tmp_path / "data").mkdir()
        log = (tmp_path / "bot.log").open("wb")
        process = _spawn(env, tmp_path / "data", log)
        try:
            async with aiohttp.ClientSession() as http:

                async def status() -> int:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            return response.status
                    except aiohttp.ClientError:
                        return 0

                deadline = time.monotonic() + 60
                while await status() != 200:
                    assert process.poll() is None, (tmp_path / "bot.log").read_text()
                    assert time.monotonic() < deadline, (tmp_path / "bot.log").read_text()
                    await asyncio.sleep(0.2)
                process.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(process.wait, 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
        output = (tmp_path / "bot.log").read_text()
        assert code == 0, output
        assert "stopping: finishing the updates in hand" in output
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            locks = await session.scalar(_ADVISORY_LOCKS_HERE)
        assert locks == 0
    finally:
        await database.dispose()


# -- broadcasts across replicas ---------------------------------------------------------------


async def _queue_broadcast(core: Core, people: int) -> int:
    """A broadcast followed on Telegram whose progress message (id 77) was sent."""
    from handlers.broadcast_messages import progress_reply, recipient_rows, status_row
    from storage.broadcasts import Audience, Recipient
    from storage.models import Broadcast

    now = utcnow()
    async with core.database.writing(), core.database.sessions() as session, session.begin():
        sender = User(full_name="Agus Wijaya", locale="id", registered_at=now)
        users = [User(full_name=f"ASN {n}", locale="id", registered_at=now) for n in range(people)]
        session.add_all([sender, *users])
        await session.flush()
        broadcast = Broadcast(
            draft_key=uuid.uuid4().hex,
            sender_id=sender.id,
            text="Rapat koordinasi Senin.",
            segment={"kind": "all", "opds": None},
            counts={"channels": {"telegram": people}},
            recipients=people,
            progress_channel="telegram",
            progress_chat="900",
            locale="id",
            confirmed_at=now,
        )
        session.add(broadcast)
        await session.flush()
        found = Audience(
            recipients=[Recipient(u.id, "id", "telegram", str(1000 + u.id), False) for u in users]
        )
        rows = recipient_rows(broadcast, found, "Agus Wijaya", now)
        first = status_row(broadcast, "progress", progress_reply(ID, broadcast, {}), now)
        rows.append(dataclasses.replace(first, state=OutboxState.SENT, result="message_id:77"))
        from storage.outbox import add_messages

        await add_messages(session, rows)
        return broadcast.id


async def _status_keys(core: Core, broadcast_id: int) -> list[str]:
    async with core.database.sessions() as session:
        keys = await session.scalars(
            select(OutboxMessage.key)
            .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.kind != "broadcast")
            .order_by(OutboxMessage.id)
        )
        return list(keys)


async def test_only_the_elected_sender_keeps_a_broadcasts_progress(replicas: list[Core]) -> None:
    """Both replicas run the progress loop; only the one elected to send through the
    progress channel edits the progress message and writes the report, so the message is
    never edited from two counts at once and the report goes once. When it stops, the
    other takes the broadcast over."""
    from storage.models import Broadcast

    a, b = replicas
    for core in (a, b):
        core.register_sender("telegram", Recorder())
    await a.resend_unsent_replies("telegram")
    await b.resend_unsent_replies("telegram")
    assert a.is_sender("telegram") and not b.is_sender("telegram")
    broadcast_id = await _queue_broadcast(a, 4)
    assert await b.broadcasts.tick() == 0
    assert await _status_keys(a, broadcast_id) == [f"broadcast:{broadcast_id}:progress"]
    assert await a.broadcasts.tick() == 1
    assert await _status_keys(a, broadcast_id) == [
        f"broadcast:{broadcast_id}:progress",
        f"broadcast:{broadcast_id}:edit:0",
    ]
    # Both loops running at once while the rows go out: one writer of the progress.
    stop = asyncio.Event()
    for core in (a, b):
        core.broadcasts.interval = 0.02
    loops = [asyncio.create_task(core.broadcasts.run(stop)) for core in (a, b)]
    try:
        for _ in range(3):
            async with a.database.writing(), a.database.sessions() as session, session.begin():
                row = await session.scalar(
                    select(OutboxMessage).where(
                        OutboxMessage.broadcast_id == broadcast_id,
                        OutboxMessage.kind == "broadcast",
                        OutboxMessage.state == OutboxState.PENDING.value,
                    )
                )
                assert row is not None
                row.state = OutboxState.SENT.value
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    keys = await _status_keys(a, broadcast_id)
    assert keys[2:] == [f"broadcast:{broadcast_id}:edit:{n}" for n in (1, 2, 3)]
    # The elected sender stops; the other replica takes the channel, and the broadcast.
    await a.release()
    await b.election.electors["telegram"].step()  # type: ignore[union-attr]
    assert b.is_sender("telegram")
    async with b.database.writing(), b.database.sessions() as session, session.begin():
        await session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.kind == "broadcast")
            .values(state=OutboxState.SENT.value)
        )
    assert await b.broadcasts.tick() == 2  # the final edit and the report
    assert await b.broadcasts.tick() == 0
    keys = await _status_keys(b, broadcast_id)
    assert keys[-2:] == [f"broadcast:{broadcast_id}:edit:final", f"broadcast:{broadcast_id}:report"]
    async with b.database.sessions() as session:
        stored = await session.get(Broadcast, broadcast_id)
        assert stored is not None and stored.finished_at is not None


async def test_a_new_sender_takes_its_predecessors_claims_at_once_from_any_host(
    replicas: list[Core],
) -> None:
    """The elected sender on another machine died holding claims (its lease would keep them
    60 s); the replica elected next sends them at once. Replies are left to their lease."""
    a, b = replicas
    sends = Recorder()
    a.register_sender("telegram", Recorder())
    b.register_sender("telegram", sends)
    await a.resend_unsent_replies("telegram")
    await b.resend_unsent_replies("telegram")
    assert a.is_sender("telegram") and not b.is_sender("telegram")
    now = utcnow()
    await a.outbox.add(
        [
            NewMessage(
                key=f"broadcast:1:{n}",
                kind="broadcast",
                channel="telegram",
                recipient=str(500 + n),
                payload={"replies": [{"text": f"siaran {n}"}]},
                due_at=now,
            )
            for n in range(3)
        ]
    )
    remote = OutboxStore(a.database, worker="other-host:1:abc")
    assert len(await remote.claim(utcnow(), ["telegram"], 10)) == 3  # then that host died
    assert await b.sender.drain(["telegram"]) == 0  # not elected, and the lease holds
    await a.election.electors["telegram"].kill_connection_for_tests()  # type: ignore[union-attr]
    elector = b.election.electors["telegram"]  # type: ignore[union-attr]
    await _wait_async(elector.step, within=5.0)
    assert b.is_sender("telegram")
    await asyncio.gather(*list(b._background))
    assert await b.sender.drain(["telegram"]) == 3
    assert sorted(who for who, _ in sends.sent) == ["500", "501", "502"]


async def _wait_async(step: object, within: float) -> None:
    started = time.monotonic()
    while not await step():  # type: ignore[operator]
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.05)
