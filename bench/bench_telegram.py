"""Updates per second through the Telegram channel, against a bare python-telegram-bot echo bot.

    .venv/bin/python bench/bench_telegram.py [--users 20] [--seconds 6] [--rounds 3]
                                             [--concurrency 8]

The bots run in this process, one after the other, against the loopback fake Bot API
(``tests/fakes/telegram_api.py``), which runs in a child process together with the load: simulated
people who each send a message, wait until the whole answer has arrived, then send the next
(a closed loop, so latency is not inflated by an artificial queue). SASI's run goes through
PTB's ``Application``, the channel, the core's handlers and SQLite: registration, a button
press, commands, the start of an idea. The echo bot answers every text with the same text.

A third bot, the channel over a stand-in core that answers like the echo bot, shows what
the channel itself costs. The three run in turn, for several rounds, and the median round
is shown: on a shared machine the load changes from minute to minute.

Printed: the rates, SASI's ratio to the echo bot (the target is at least 0.7), reply
latency p50 and p95, the bot process's CPU time per update and getUpdates calls per update.
Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from tests.fakes.core_side import ChannelSide  # noqa: E402  (after the path is set)

# --------------------------------------------------------------------------- the child: fake + load


async def run_load(spec: dict[str, Any]) -> None:
    """Serve the fake, wait for GO on stdin, drive the simulated people, report as JSON."""
    from tests.fakes.telegram_api import FakeTelegramApi

    async with FakeTelegramApi() as fake:
        print(f"PORT {fake.port}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.readline()  # GO: the bot under test is polling

        head: list[list[Any]] = spec["head"]
        loop_turns: list[list[Any]] = spec["loop"]
        deadline = time.perf_counter() + spec["seconds"]
        latencies: list[float] = []
        done = 0

        def answered(chat_id: int, expected: int) -> bool:
            return fake.count_to(chat_id) >= expected

        def script() -> Iterator[list[Any]]:
            yield from head
            while True:
                yield from loop_turns

        async def person(index: int) -> None:
            nonlocal done
            user = fake.user(700000 + index, f"Peserta {index}")
            sent_before = 0
            for kind, value, replies in script():
                if time.perf_counter() > deadline:
                    return
                text = value.replace("{n}", f"{index:03d}")
                started = time.perf_counter()
                if kind == "text":
                    fake.send_text(user, text)
                else:
                    fake.press(user, fake.last_with_buttons(user.id), text)
                expected = sent_before + replies
                await fake.wait_for(partial(answered, user.id, expected), 30)
                latencies.append(time.perf_counter() - started)
                sent_before = expected
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(person(i) for i in range(spec["users"])))
        elapsed = time.perf_counter() - began
        latencies.sort()
        result = {
            "updates": done,
            "seconds": elapsed,
            "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "errors": fake.errors[:5],
            "calls": dict(collections.Counter(c.method for c in fake.calls)),
        }
        print("RESULT " + json.dumps(result), flush=True)
        await reader.readline()  # STOP: the bot has stopped polling; the fake may go


def child_main() -> None:
    asyncio.run(run_load(json.loads(sys.argv[2])))


# --------------------------------------------------------------------------- the parent: the bots


async def spawn_load(spec: dict[str, Any]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        json.dumps(spec),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = (await process.stdout.readline()).decode()
    if not line.startswith("PORT "):
        raise RuntimeError(f"the fake did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}"


async def finish_load(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"GO\n")
    await process.stdin.drain()
    while True:
        line = (await process.stdout.readline()).decode()
        if not line:
            raise RuntimeError("the load process ended without a result")
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result


async def end_load(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.write(b"STOP\n")
    await process.stdin.drain()
    await process.wait()


@contextlib.asynccontextmanager
async def echo_bot(base_url: str) -> AsyncIterator[None]:
    """The baseline: python-telegram-bot's echo example, with PTB's defaults."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    from tests.fakes.telegram_api import TOKEN

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{base_url}/bot")
        .base_file_url(f"{base_url}/file/bot")
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling()
        try:
            yield
        finally:
            await application.updater.stop()
            await application.stop()


@contextlib.asynccontextmanager
async def sasi_bot(base_url: str, workdir: Path, concurrency: int) -> AsyncIterator[None]:
    """SASI: the Telegram channel over the real core on SQLite, demo OPDs loaded."""
    from bot.app import open_core
    from bot.channels.telegram import TelegramChannel
    from bot.config import Settings
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv
    from tests.fakes.telegram_api import TOKEN

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        data_dir=workdir / "data",
        attachments_dir=workdir / "attachments",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=base_url,
    )
    async with open_core(settings) as core:
        await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        handle = core.handle

        async def timed_handle(incoming: Any) -> Any:
            # Where the time goes: the core's share of each update, for the report.
            started = time.perf_counter()
            try:
                return await handle(incoming)
            finally:
                CORE_SECONDS.append(time.perf_counter() - started)

        core.handle = timed_handle  # type: ignore[method-assign]
        channel = TelegramChannel(settings, core, max_concurrency=concurrency)
        await channel.start()
        try:
            yield
        finally:
            await channel.stop()


class EchoCore(ChannelSide):
    """A stand-in core that answers like the echo bot, with the real inbound store on SQLite.

    Run through the channel it measures what the channel itself costs (PTB, ordering, storing
    each update), apart from the conversation handlers.
    """

    def __init__(self, database: Any) -> None:
        from storage.inbound import InboundStore

        self.database = database
        self.inbound = InboundStore(database)
        self.senders: dict[str, Any] = {}

    async def handle(self, incoming: Any) -> Any:
        from handlers.messages import Outcome, Reply

        # The real engine claims the update inside its own transaction: nothing to add here.
        return Outcome(replies=[Reply(incoming.text or "?")])


@contextlib.asynccontextmanager
async def channel_only_bot(base_url: str, workdir: Path, concurrency: int) -> AsyncIterator[None]:
    """The Telegram channel over :class:`EchoCore`: the channel's own cost."""
    from bot.channels.telegram import TelegramChannel
    from bot.config import Settings
    from storage.db import Database
    from storage.migrate import upgrade_to_head_async
    from tests.fakes.telegram_api import TOKEN

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'channel.db'}",
        telegram_bot_token=TOKEN,
        telegram_api_base_url=base_url,
    )
    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    channel = TelegramChannel(
        settings,
        EchoCore(database),  # type: ignore[arg-type]
        max_concurrency=concurrency,
    )
    await channel.start()
    try:
        yield
    finally:
        await channel.stop()
        await database.dispose()


CORE_SECONDS: list[float] = []

REGISTRATION: list[tuple[str, str]] = [
    ("text", "/mulai"),
    ("text", "Peserta Bench {n}, S.Kom"),
    ("text", "198503152010011{n}"),  # a valid NIP: birth date, appointment, gender, sequence
    ("text", "kesehatan"),
    ("press", "opd:"),  # the first OPD offered
    ("text", "Pranata Komputer"),
]
# Repeated until the time is up: commands, and an idea started then cancelled.
ROUND: list[tuple[str, str]] = [
    ("text", "/ideku"),
    ("text", "/bantuan"),
    ("text", "/ide"),
    ("text", "SI-BENCH-{n}"),
    ("text", "/batal"),
]
SCRIPT = REGISTRATION + ROUND + ROUND


async def sasi_turns(workdir: Path) -> list[list[Any]]:
    """Run the script once through the core to learn how many messages each turn answers."""
    from bot.app import open_core
    from bot.channels.telegram_render import split_text
    from bot.config import Settings
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv
    from handlers.messages import Incoming, coalesce

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'dry.db'}", data_dir=workdir / "data"
    )
    turns: list[list[Any]] = []
    async with open_core(settings) as core:
        await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        offered: list[str] = []
        for number, (kind, value) in enumerate(SCRIPT):
            text = value.replace("{n}", "999")
            if kind == "press":
                value = next(p for p in offered if p.startswith(value))
                incoming = Incoming("telegram", "1", choice=value, update_key=str(number))
            else:
                incoming = Incoming("telegram", "1", text=text, update_key=str(number))
            outcome = await core.handle(incoming)
            # As the channel sends them: plain replies joined to the next, long texts split.
            messages = sum(len(split_text(r.text)) for r in coalesce(outcome.replies))
            offered = [c.payload for r in outcome.replies for c in r.choices] or offered
            turns.append([kind, value, messages])
    return turns


async def measure(
    name: str, spec: dict[str, Any], workdir: Path, concurrency: int = 8
) -> dict[str, Any]:
    process, base_url = await spawn_load(spec)
    bots = {
        "echo": lambda: echo_bot(base_url),
        "channel": lambda: channel_only_bot(base_url, workdir, concurrency),
        "sasi": lambda: sasi_bot(base_url, workdir, concurrency),
    }
    bot = bots[name]()
    async with bot:
        started = resource.getrusage(resource.RUSAGE_SELF)
        result = await finish_load(process)
        ended = resource.getrusage(resource.RUSAGE_SELF)
    await end_load(process)
    cpu = (ended.ru_utime - started.ru_utime) + (ended.ru_stime - started.ru_stime)
    result["cpu_ms"] = 1000 * cpu / max(1, result["updates"])
    if result["errors"]:
        raise RuntimeError(f"{name}: the fake saw bad requests: {result['errors']}")
    return result


async def main(users: int, seconds: float, concurrency: int, rounds: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, list[dict[str, Any]]] = {"echo": [], "channel": [], "sasi": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        turns = await sasi_turns(workdir)
        # The second round's counts: the first may differ (e.g. a first-time hint).
        sasi_spec = {
            "users": users,
            "seconds": seconds,
            "head": turns[: len(REGISTRATION)],
            "loop": turns[len(REGISTRATION) + len(ROUND) :],
        }
        echo_spec = {
            "users": users,
            "seconds": seconds,
            "head": [],
            "loop": [["text", f"pesan {number} dari {{n}}", 1] for number in range(10)],
        }
        # Rounds alternate the bots, so that a change in the machine's load (other work,
        # CPU frequency) falls on all of them rather than on whichever ran at the time.
        for number in range(rounds):
            here = workdir / f"round{number}"
            here.mkdir()
            results["echo"].append(await measure("echo", echo_spec, here))
            results["channel"].append(await measure("channel", echo_spec, here, concurrency))
            results["sasi"].append(await measure("sasi", sasi_spec, here, concurrency))

    def rate(r: dict[str, Any]) -> float:
        return float(r["updates"] / r["seconds"])

    def line(label: str, runs: list[dict[str, Any]]) -> str:
        r = sorted(runs, key=rate)[len(runs) // 2]  # the median round
        polls = r["calls"].get("getUpdates", 0) / max(1, r["updates"])
        return (
            f"{label:<36} {rate(r):7.1f}/s  p50 {r['p50'] * 1000:5.1f} ms"
            f"  p95 {r['p95'] * 1000:5.1f} ms  bot CPU {r['cpu_ms']:.2f} ms/update"
            f"  getUpdates {polls:.2f}/update"
        )

    def ratios(name: str) -> list[float]:
        return [rate(a) / rate(e) for a, e in zip(results[name], results["echo"], strict=True)]

    print(
        f"Telegram channel benchmark: {users} people, closed loop, loopback fake Bot API, "
        f"{rounds} rounds of {seconds:g} s per bot (median round shown)"
    )
    print(line("PTB echo bot (baseline)", results["echo"]))
    print(line("channel + stand-in echo core", results["channel"]))
    print(line("SASI (PTB + channel + core + SQLite)", results["sasi"]))
    sasi_ratios = ratios("sasi")
    print(
        f"ratio SASI / echo: {statistics.median(sasi_ratios):.2f} (target >= 0.70); "
        f"per round: {', '.join(f'{x:.2f}' for x in sasi_ratios)}"
    )
    print(f"ratio channel with stand-in core / echo: {statistics.median(ratios('channel')):.2f}")
    core_ms = sorted(s * 1000 for s in CORE_SECONDS)
    print(
        f"core.handle inside the SASI runs: mean {statistics.mean(core_ms):.1f} ms, "
        f"p95 {core_ms[int(0.95 * (len(core_ms) - 1))]:.1f} ms over {len(core_ms)} updates "
        "(waiting for the writer queue included)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main()
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--users", type=int, default=20, help="simulated people at once")
        parser.add_argument("--seconds", type=float, default=6.0, help="load time per bot")
        parser.add_argument("--rounds", type=int, default=3, help="rounds of the three bots")
        parser.add_argument(
            "--concurrency", type=int, default=8, help="people the channel serves at once"
        )
        args = parser.parse_args()
        asyncio.run(main(args.users, args.seconds, args.concurrency, args.rounds))
