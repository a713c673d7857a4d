"""``kill -9`` between the commit and the send (issue 20): the reply is not lost.

The real bot runs as a process (``python -m bot run``) against the fake Bot API, which holds
the bot's sends unanswered. Each step of a registration is answered by the bot, its reply
held in flight, and the bot killed with SIGKILL right then: the state and the reply were
committed, the reply never reached Telegram. The next start must send it, and the person
sees every question.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.telegram_api import FakeTelegramApi, FakeUser, free_port

ROOT = Path(__file__).resolve().parent.parent
STEPS = [
    ("Rina Marlina", "NIP"),
    ("199107082019032012", "OPD"),
    ("kesehatan", "kesehatan"),  # the search results, named by the query
]


def _env(tmp_path: Path, fake: FakeTelegramApi) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SASI_", "TELEGRAM_"))}
    env.update(
        SASI_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'sasi.db'}",
        SASI_DATA_DIR=str(tmp_path / "data"),
        SASI_HTTP_HOST="127.0.0.1",
        SASI_HTTP_PORT=str(free_port()),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as api:
        yield api


async def _run(env: dict[str, str], *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=env["SASI_DATA_DIR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert await process.wait() == 0


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=env["SASI_DATA_DIR"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _kill(bot: subprocess.Popen[bytes]) -> None:
    bot.send_signal(signal.SIGKILL)
    bot.wait(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_reply_in_flight_at_a_kill_arrives_after_the_restart(
    fake: FakeTelegramApi, tmp_path: Path, database_url: str
) -> None:
    env = _env(tmp_path, fake)
    (tmp_path / "data").mkdir()
    await _run(env, "migrate")
    await _run(env, "import-opd", str(ROOT / "bot" / "demo_data" / "opds.csv"))
    log = tmp_path / "bot.log"
    user: FakeUser = fake.user(8101)
    bot = _start(env, log)
    try:
        fake.send_text(user, "/mulai")
        await fake.wait_sent(user.id, 1, within=60)
        for text, expected in STEPS:
            seen = fake.count_to(user.id)
            fake.sends_open.clear()  # Telegram stops answering the bot's sends
            held = fake.held
            fake.send_text(user, text)
            await fake.wait_for(lambda held=held: fake.held > held, within=60)
            _kill(bot)  # committed, reply in flight, never answered
            await asyncio.sleep(0.3)  # the fake's server notices the connection is gone
            fake.sends_open.set()
            assert fake.count_to(user.id) == seen  # it did not reach the person
            bot = _start(env, log)
            await fake.wait_for(
                lambda seen=seen, expected=expected: any(
                    expected in text for text in fake.texts_to(user.id)[seen:]
                ),
                within=60,
            )
        # Polling again: the start is over, so the stop below is an ordinary one.
        polls = len(fake.calls_of("getUpdates"))
        await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) > polls, within=60)
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
    texts = fake.texts_to(user.id)
    # Each question arrived; at worst one arrived twice (a kill before it was marked sent).
    assert len(texts) <= len(set(texts)) + len(STEPS)
    errors = [line for line in log.read_text().splitlines() if " ERROR bot" in line]
    assert errors == [], log.read_text()[-3000:]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_at_most_what_was_in_flight(
    fake: FakeTelegramApi, tmp_path: Path, database_url: str
) -> None:
    from bot.outbox.limits import TELEGRAM_LIMITS
    from handlers.messages import Reply, outbox_payload
    from storage.db import Database
    from storage.models import utcnow
    from storage.outbox import NewMessage, OutboxStore

    env = _env(tmp_path, fake)
    (tmp_path / "data").mkdir()
    await _run(env, "migrate")
    chats = [fake.user(8200 + n).id for n in range(150)]
    database = Database(env["SASI_DATABASE_URL"])
    try:
        await OutboxStore(database).add(
            [
                NewMessage(
                    key=f"broadcast:1:{chat}",
                    kind="broadcast",
                    channel="telegram",
                    recipient=str(chat),
                    payload=outbox_payload([Reply(f"Siaran untuk {chat}")]),
                    due_at=utcnow(),
                )
                for chat in chats
            ]
        )
    finally:
        await database.dispose()
    log = tmp_path / "bot.log"
    bot = _start(env, log)
    try:
        await fake.wait_for(lambda: len(fake.calls_of("sendMessage")) >= 40, within=60)
        _kill(bot)  # in the middle of the batch
        bot = _start(env, log)
        await fake.wait_for(lambda: all(fake.count_to(c) for c in chats), within=60)
    finally:
        bot.send_signal(signal.SIGTERM)
        bot.wait(timeout=30)
    counts = [fake.count_to(chat) for chat in chats]
    assert min(counts) == 1  # nobody missed
    # Only a send in flight at the kill can be repeated (its result was not recorded yet).
    assert sum(counts) - len(chats) <= TELEGRAM_LIMITS.max_in_flight
