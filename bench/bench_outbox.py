"""The outbox: sending rate against Telegram's limits, and computing what is due at scale.

    .venv/bin/python bench/bench_outbox.py                      # both parts (about 7 minutes)
    .venv/bin/python bench/bench_outbox.py --messages 1000      # a shorter send run
    .venv/bin/python bench/bench_outbox.py --skip-send          # only the due computation

1. **Send rate.** The real core and Telegram channel (python-telegram-bot) against the fake
   Bot API enforcing Telegram's limits: 429 with ``retry_after`` past 30 messages in any
   second overall, or a second message to one chat within a second. N messages to N/5
   people (so the per-chat limit binds too) are put in the outbox, and the sender drains
   them. Target: at least 95 % of 30 messages/s, with no 429.
2. **Due computation.** 100,000 ideas (half in Design without a rencana aksi, half in
   Deliver without this month's report) across 500 OPDs, one owner each: the time to
   compute every reminder and monitoring prompt due at a moment, on SQLite and (when
   ``SASI_TEST_DATABASE_URL`` or ``--postgres`` names one) on PostgreSQL. Target: 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from scratch_database import scratch_postgres  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from handlers.messages import Reply, outbox_payload  # noqa: E402
from storage.models import (  # noqa: E402
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
from storage.outbox import NewMessage  # noqa: E402

WIB = ZoneInfo("Asia/Jakarta")
LIMIT = 30.0


async def send_rate(messages: int) -> None:
    from tests.fakes.telegram_api import telegram_rig

    with tempfile.TemporaryDirectory() as workdir:
        async with telegram_rig(Path(workdir), "polling") as rig:
            rig.fake.enforce_limits = True
            people = max(1, messages // 5)
            chats = [rig.fake.user(100_000 + n).id for n in range(people)]
            rows = [
                NewMessage(
                    key=f"bench:{n}",
                    kind="broadcast",
                    channel="telegram",
                    recipient=str(chats[n % people]),
                    payload=outbox_payload([Reply(f"Pesan {n}")]),
                    due_at=utcnow(),
                )
                for n in range(messages)
            ]
            await rig.core.outbox.add(rows)
            started = time.monotonic()
            sent = await rig.core.sender.drain(["telegram"])
            elapsed = time.monotonic() - started
            times = rig.fake.send_times
            # The rate over the run, and over every full 10-second stretch of it.
            windows = [
                sum(1 for t in times if start <= t < start + 10) / 10
                for start in [times[0] + 10 * k for k in range(int((times[-1] - times[0]) // 10))]
            ] or [0.0]
            rate = len(times) / elapsed
            print(
                f"send: {sent} messages to {people} people in {elapsed:.1f} s: "
                f"{rate:.2f}/s = {rate / LIMIT:.1%} of Telegram's {LIMIT:.0f}/s; "
                f"10-s windows {min(windows):.1f}–{max(windows):.1f}/s "
                f"(median {statistics.median(windows):.1f}); "
                f"429 answers: {rig.fake.flood_refusals}"
            )


async def seed(url: str, ideas: int, opds: int) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(Opd), [
            {"id": n + 1, "name": f"OPD {n + 1}", "short_name": f"O{n + 1}", "created_at": utcnow()}
            for n in range(opds)
        ])  # fmt: skip
        programme = await conn.execute(
            insert(Programme).values(name="Lab 2027", created_at=utcnow()).returning(Programme.id)
        )
        pid = programme.scalar_one()
        await conn.execute(
            insert(ProgrammeStage),
            [
                {"programme_id": pid, "stage": s, "starts": a, "ends": b}
                for s, a, b in (
                    (Stage.DESIGN, date(2027, 4, 1), date(2027, 5, 31)),
                    (Stage.DELIVER, date(2027, 6, 1), date(2027, 11, 30)),
                )
            ],
        )
        now = utcnow()
        for start in range(0, ideas, 5000):
            chunk = range(start, min(ideas, start + 5000))
            await conn.execute(insert(User), [
                {"id": n + 1, "full_name": f"ASN {n}", "nip": None, "opd_id": n % opds + 1,
                 "locale": "id", "registered_at": now, "created_at": now} for n in chunk
            ])  # fmt: skip
            await conn.execute(insert(Identity), [
                {"user_id": n + 1, "channel": "telegram", "external_id": str(10**6 + n),
                 "last_inbound_at": now, "created_at": now} for n in chunk
            ])  # fmt: skip
            await conn.execute(insert(Idea), [
                {"name": f"Inovasi {n}", "problem": "Masalah", "idea": "Gagasan",
                 "opd_id": n % opds + 1, "owner_id": n + 1, "programme_id": pid,
                 "stage": Stage.DESIGN if n % 2 else Stage.DELIVER,
                 "status": IdeaStatus.SUBMITTED, "created_at": now, "updated_at": now}
                for n in chunk
            ])  # fmt: skip
    await engine.dispose()


async def due_time(url: str, label: str, ideas: int, opds: int, rounds: int) -> None:
    from bot.config import Settings
    from bot.scheduler.loop import Scheduler
    from storage.db import Database
    from storage.migrate import upgrade_to_head_async
    from storage.outbox import OutboxStore

    await upgrade_to_head_async(url)
    await seed(url, ideas, opds)
    database = Database(url)
    # 14 May 2027, 09:00 WIB: the 7-day reminders for Design, and no monitoring yet; and
    # 2 June: the monthly prompt (Design ideas counted as Deliver for this run's other half).
    moments = [
        datetime(2027, 5, 14, 9, 0, tzinfo=WIB).astimezone(UTC),
        datetime(2027, 6, 2, 9, 0, tzinfo=WIB).astimezone(UTC),
    ]
    settings = Settings(database_url=url)
    try:
        for moment in moments:
            scheduler = Scheduler(database, settings, OutboxStore(database), lambda m=moment: m)
            await scheduler.working_time()
            times, found = [], 0
            for _ in range(rounds):
                started = time.perf_counter()
                found = len(await scheduler.due(moment))
                times.append(time.perf_counter() - started)
            local = moment.astimezone(WIB).strftime("%d %b %Y %H:%M")
            print(
                f"due at {local} WIB, {label}: {found} messages for {ideas} ideas in "
                f"{statistics.median(times):.2f} s (median of {rounds}; best {min(times):.2f} s)"
            )
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--opds", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("SASI_TEST_DATABASE_URL", ""))
    args = parser.parse_args()
    if not args.skip_send:
        await send_rate(args.messages)
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'due.db'}"
        await due_time(url, "SQLite", args.ideas, args.opds, args.rounds)
    if args.postgres:
        async with scratch_postgres(args.postgres) as url:
            await due_time(url, "PostgreSQL", args.ideas, args.opds, args.rounds)
    else:
        print("PostgreSQL NOT measured: set SASI_TEST_DATABASE_URL or pass --postgres URL")


if __name__ == "__main__":
    asyncio.run(main())
