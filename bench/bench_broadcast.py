"""A broadcast to N people through the real bot process, killed midway and restarted.

    .venv/bin/python bench/bench_broadcast.py                    # 10,000 recipients (~6 min)
    .venv/bin/python bench/bench_broadcast.py --recipients 600   # a quick run

The fake Bot API (tests/fakes/telegram_api.py) enforces Telegram's limits: 429 with
``retry_after`` past 30 messages in any second overall, or a second message to one chat
within a second. N registered ASN with a Telegram identity and one Bappeda sender are
seeded; a broadcast to "all ASN" is queued exactly as ``/siaran`` queues it on confirmation
(the same audience query and outbox rows). ``python -m bot run`` sends it; at about half
way it is killed with SIGKILL, and started again. Printed:

- the rate before the kill (first send to the kill) and after the restart (the restart's first
  send to the last recipient's delivery), counting the messages the fake counts against
  30/s (sendMessage: not the progress edits, which the sender's limiter counts all the same,
  about one every 3 s); the final edit and report, which follow the last delivery, are
  timed apart, and so is the restart (the bench's pause, the process's start, and when the
  killed process's unsent claims went out: the lease wait, none on one host since a dead
  pid's claims are freed at start);
- the 429s;
- the killed process's claims whose request had left with no answer recorded (in doubt: sent
  again, marked ``in_doubt``; twice only if Telegram had taken the first), and how many people
  got the broadcast once, twice (and whether each of those was in doubt), or not at all.

Targets: at least 95 % of 30/s, no 429, nobody missed, nobody twice except in-doubt rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from sqlalchemy import insert, select  # noqa: E402

from handlers.broadcast_messages import progress_reply, recipient_rows, status_row  # noqa: E402
from handlers.i18n import Translator  # noqa: E402
from storage.broadcasts import KIND, audience  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Broadcast, Identity, User, utcnow  # noqa: E402
from storage.outbox import OutboxMessage, OutboxState, add_messages  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi, free_port  # noqa: E402

LIMIT = 30.0
SENDER_CHAT = 900_000_000
FIRST_CHAT = 100_000_000


def environment(workdir: Path, fake: FakeTelegramApi) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SASI_", "TELEGRAM_"))}
    env.update(
        SASI_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'sasi.db'}",
        SASI_DATA_DIR=str(workdir / "data"),
        SASI_HTTP_HOST="127.0.0.1",
        SASI_HTTP_PORT=str(free_port()),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        PYTHONPATH=str(ROOT),
    )
    return env


async def seed_and_queue(url: str, people: int) -> int:
    """N ASN and a sender on Telegram; the broadcast queued as the flow queues it."""
    database = Database(url)
    now = utcnow()
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            await session.execute(
                insert(User),
                [
                    {"id": 1, "full_name": "Agus Wijaya", "locale": "id", "registered_at": now,
                     "created_at": now},
                    *({"id": n + 2, "full_name": f"ASN {n}", "locale": "id",
                       "registered_at": now, "created_at": now} for n in range(people)),
                ],
            )  # fmt: skip
            await session.execute(
                insert(Identity),
                [
                    {"user_id": 1, "channel": "telegram", "external_id": str(SENDER_CHAT),
                     "last_inbound_at": now, "created_at": now},
                    *({"user_id": n + 2, "channel": "telegram",
                       "external_id": str(FIRST_CHAT + n), "last_inbound_at": now,
                       "created_at": now} for n in range(people)),
                ],
            )  # fmt: skip
            segment = {"kind": "all", "opds": None}
            found = await audience(session, segment, now, exclude=1)
            broadcast = Broadcast(
                draft_key=uuid.uuid4().hex,
                sender_id=1,
                text="Rapat koordinasi inovasi: Senin, 09.00 WIB, aula Bappeda.",
                segment=segment,
                counts={"channels": found.per_channel(), "templates": 0, "unreachable": 0},
                recipients=len(found.recipients),
                progress_channel="telegram",
                progress_chat=str(SENDER_CHAT),
                locale="id",
                created_at=now,
                confirmed_at=now,
            )
            session.add(broadcast)
            await session.flush()
            rows = recipient_rows(broadcast, found, "Agus Wijaya (Bappeda)", now)
            first = progress_reply(Translator("id"), broadcast, {})
            rows.append(status_row(broadcast, "progress", first, now))
            await add_messages(session, rows)
            return len(found.recipients)
    finally:
        await database.dispose()


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        cwd=env["SASI_DATA_DIR"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def windows(times: list[float]) -> list[float]:
    """The rate in every full 10-second stretch of a run (the steady state, gaps aside)."""
    if len(times) < 2:
        return [0.0]
    starts = [times[0] + 10 * k for k in range(int((times[-1] - times[0]) // 10))]
    return [sum(1 for t in times if s <= t < s + 10) / 10 for s in starts] or [rate(times)]


class Deliveries:
    """Who got how many, read from the fake's send log as it grows (polling the count of
    10,000 chats at every request would take the bot's CPU on a small machine)."""

    def __init__(self, fake: FakeTelegramApi, chats: list[int]) -> None:
        self.fake = fake
        self.wanted = set(chats)
        self.got: Counter[int] = Counter()
        self.last = 0.0  # when the latest recipient's first copy arrived
        self._seen = 0

    def update(self) -> int:
        chats, times = self.fake.send_chats, self.fake.send_times
        for index in range(self._seen, len(chats)):
            chat = chats[index]
            if chat in self.wanted:
                self.got[chat] += 1
                if self.got[chat] == 1:
                    self.last = times[index]
        self._seen = len(chats)
        return len(self.got)

    async def until(self, count: int, within: float = 3600) -> None:
        deadline = time.monotonic() + within
        while self.update() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.got)} of {count} delivered")
            await asyncio.sleep(0.05)


async def claims_at_the_kill(url: str) -> tuple[list[int], list[int]]:
    """The rows the killed process held: (all its claims, those whose request had left)."""
    database = Database(url)
    try:
        async with database.sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.id, OutboxMessage.attempted_at).where(
                        OutboxMessage.kind == KIND, OutboxMessage.state == OutboxState.SENDING
                    )
                )
            ).all()
        return [r.id for r in rows], [r.id for r in rows if r.attempted_at is not None]
    finally:
        await database.dispose()


async def outcome(url: str, claimed: list[int]) -> tuple[list[str], list[float]]:
    """After the run: the recipients of rows taken over in doubt, and when the killed
    process's other claims went out (wall-clock seconds since the epoch)."""
    database = Database(url)
    try:
        async with database.sessions() as session:
            doubt = list(
                await session.scalars(
                    select(OutboxMessage.recipient).where(
                        OutboxMessage.kind == KIND, OutboxMessage.in_doubt.is_(True)
                    )
                )
            )
            sent = list(
                await session.scalars(
                    select(OutboxMessage.sent_at).where(
                        OutboxMessage.id.in_(claimed), OutboxMessage.in_doubt.is_(False)
                    )
                )
            )
        return doubt, [t.timestamp() for t in sent if t is not None]
    finally:
        await database.dispose()


async def run(people: int, kill_at: float, dump: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "data").mkdir()
        async with FakeTelegramApi() as fake:
            fake.enforce_limits = True
            fake.user(SENDER_CHAT, "Agus")
            chats = [fake.user(FIRST_CHAT + n).id for n in range(people)]
            env = environment(workdir, fake)
            url = env["SASI_DATABASE_URL"]
            migrate = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "migrate", env=env, cwd=env["SASI_DATA_DIR"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert await migrate.wait() == 0
            queued = await seed_and_queue(url, people)
            log = workdir / "bot.log"
            deliveries = Deliveries(fake, chats)
            bot = start(env, log)
            try:
                await deliveries.until(int(people * kill_at))
                bot.send_signal(signal.SIGKILL)
                bot.wait(timeout=30)
                killed = time.monotonic()
                before = len(fake.send_times)
                claimed, in_flight = await claims_at_the_kill(url)
                await asyncio.sleep(0.5)
                restarted, restarted_wall = time.monotonic(), time.time()
                bot = start(env, log)
                await deliveries.until(people)
                report = "Laporan siaran"
                await fake.wait_for(
                    lambda: any(report in t for t in fake.texts_to(SENDER_CHAT)), within=120
                )
            finally:
                if bot.poll() is None:
                    bot.send_signal(signal.SIGTERM)
                    bot.wait(timeout=60)
            deliveries.update()
            doubt, late = await outcome(url, claimed)
            times = fake.send_times
            # Sends the fake answered after the kill came from requests that left before it.
            first_run = [t for t in times if t <= killed]
            second_run = [t for t in times[before:] if t >= restarted]
            # The rate counts every send (the progress edits share the budget) up to the
            # last recipient's delivery; the final edit and report follow at the progress
            # loop's next look, after the broadcast's sending is over.
            sending = [t for t in second_run if t <= deliveries.last]
            if dump is not None:
                data = {"times": times, "chats": fake.send_chats, "killed": killed,
                        "restarted": restarted, "last": deliveries.last}  # fmt: skip
                await asyncio.to_thread(dump.write_text, json.dumps(data))
                await asyncio.to_thread(dump.with_suffix(".log").write_bytes, log.read_bytes())
            counts = Counter(deliveries.got.get(c, 0) for c in chats)
            twice = sorted(c for c in chats if deliveries.got.get(c, 0) >= 2)
            doubt_chats = {int(r) for r in doubt}
            edits = [c for c in fake.calls_of("editMessageText") if c.chat_id == SENDER_CHAT]
            errors = [line for line in log.read_text().splitlines() if " ERROR bot" in line]
            r1, r2 = rate(first_run), rate(sending)
            print(f"broadcast to {queued} recipients, killed (SIGKILL) at {len(first_run)} sends")
            print(
                f"rate before the kill: {r1:.2f}/s = {r1 / LIMIT:.1%} of {LIMIT:.0f}/s; "
                f"after the restart: {r2:.2f}/s = {r2 / LIMIT:.1%} "
                f"(first send to the last recipient's)"
            )
            startup = second_run[0] - restarted if second_run else math.nan
            lease = (
                f"{min(late) - restarted_wall:.1f}–{max(late) - restarted_wall:.1f} s"
                if late
                else "none"
            )
            print(
                f"restart: killed → started again {restarted - killed:.1f} s (the bench's "
                f"pause), start → first send {startup:.1f} s (process start); the killed "
                f"process's {len(claimed) - len(in_flight)} unsent claims went out {lease} "
                f"after the start (lease wait: none, a dead pid's claims are freed at start)"
            )
            r_all = rate(second_run)
            print(
                f"final edit and report {second_run[-1] - deliveries.last:.1f} s after the "
                f"last recipient's delivery; the restart's rate counting them: "
                f"{r_all:.2f}/s = {r_all / LIMIT:.1%}"
            )
            steady = windows(first_run) + windows(sending)
            print(
                f"10-s windows {min(steady):.1f}–{max(steady):.1f}/s, median "
                f"{statistics.median(steady):.1f}/s = {statistics.median(steady) / LIMIT:.1%}; "
                f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            print(f"429 answers: {fake.flood_refusals}")
            arrived_before = sum(1 for c in doubt_chats if deliveries.got.get(c, 0) >= 2)
            print(
                f"in flight at the kill (request out, no answer recorded): {len(in_flight)}; "
                f"taken over in doubt and sent again: {len(doubt)}, of which had it already "
                f"(so twice): {arrived_before}, had not: {len(doubt) - arrived_before}"
            )
            print(
                f"delivered once: {counts.get(1, 0)}, twice: {len(twice)} "
                f"(all in doubt: {set(twice) <= doubt_chats}), missed: {counts.get(0, 0)}"
            )
            print(
                f"sender's progress: {len(edits)} edits of one message, report: "
                f"{fake.texts_to(SENDER_CHAT)[-1].splitlines()[1:3]}; "
                f"all delivered {deliveries.last - first_run[0]:.1f} s after the first send; "
                f"errors logged: {len(errors)}"
            )
            for line in errors[:5]:
                print("  logged:", line[:300])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction delivered")
    parser.add_argument("--dump", type=Path, help="write every send's time here (JSON)")
    args = parser.parse_args()
    asyncio.run(run(args.recipients, args.kill_at, args.dump))


if __name__ == "__main__":
    main()
