"""The weekly digest at scale: 100,000 ideas across 500 OPDs. Target: built in 1 s or less.

    .venv/bin/python bench/bench_digest.py                       # SQLite (and PostgreSQL if
                                                                 # SASI_TEST_DATABASE_URL is set)
    .venv/bin/python bench/bench_digest.py --database-url postgresql+asyncpg://...
    .venv/bin/python bench/bench_digest.py --ideas 10000 --opds 100   # a smaller Pemda

Seeds, in large batched inserts: the OPDs; a roster of 2 ASN per idea (a quarter of them
echelon II-IV officials); one registered owner per idea, matched to the roster by NIP;
ideas over every stage and status, created over 20 weeks; a collaborator on every fifth
idea; this month's report (with obstacles) for two thirds of the Deliver ideas; eviden on
every third Deliver/Display idea; a duplicate decision for every twentieth idea. Then
times the whole-Pemda digest (the figures' SQL and the text) and, apart, the chart, and
prints the median and the slowest of a few runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch_database import scratch_postgres  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from storage.models import (  # noqa: E402
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Opd,
    RosterEntry,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
    User,
)

WIB = ZoneInfo("Asia/Jakarta")
MOMENT = datetime(2027, 3, 22, 7, 30, tzinfo=WIB).astimezone(UTC)  # a Monday morning
TARGET_SECONDS = 1.0
BATCH = 5000
STAGES = list(Stage)
STATUSES = [IdeaStatus.SUBMITTED] * 3 + [IdeaStatus.VERIFIED] * 3 + [IdeaStatus.REJECTED]
STATUSES += [IdeaStatus.MERGED, IdeaStatus.WITHDRAWN]
OBSTACLES = (["budget"], ["staff", "regulation"], [], ["technology"], ["budget", "other"])
INDICATORS = ("regulasi", "sdm", "anggaran", "sosialisasi")
DECISIONS = list(SimilarityDecisionKind)


def nip(n: int) -> str:
    return f"{198000000000000000 + n:018d}"


async def seed(url: str, ideas: int, opds: int) -> None:
    engine = create_async_engine(url)
    created = MOMENT - timedelta(days=140)
    async with engine.begin() as conn:
        await conn.execute(insert(Opd), [
            {"id": n + 1, "name": f"Dinas {n + 1:03d}", "short_name": f"D{n + 1}",
             "created_at": created} for n in range(opds)
        ])  # fmt: skip
        for start in range(0, 2 * ideas, BATCH):
            chunk = range(start, min(2 * ideas, start + BATCH))
            await conn.execute(insert(RosterEntry), [
                {"nip": nip(n), "full_name": f"ASN {n}", "opd_id": n % opds + 1,
                 "position": "Staf", "imported_at": created,
                 "echelon": ("II.a", "III.b", "IV.a")[n % 3] if n % 4 == 0 else None}
                for n in chunk
            ])  # fmt: skip
        for start in range(0, ideas, BATCH):
            chunk = range(start, min(ideas, start + BATCH))
            await conn.execute(insert(User), [
                {"id": n + 1, "full_name": f"ASN {n}", "nip": nip(n), "opd_id": n % opds + 1,
                 "locale": "id", "registered_at": created, "created_at": created}
                for n in chunk
            ])  # fmt: skip
        for start in range(0, ideas, BATCH):
            chunk = range(start, min(ideas, start + BATCH))
            await conn.execute(insert(Idea), [
                {"id": n + 1, "name": f"Inovasi {n}", "problem": "Masalah", "idea": "Gagasan",
                 # OPDs past the first 490 have no idea: the digest names them.
                 "opd_id": n % min(opds, max(1, opds - 10)) + 1, "owner_id": n + 1,
                 "stage": STAGES[n % 5], "status": STATUSES[n % len(STATUSES)],
                 "created_at": created + timedelta(minutes=(n * 7919) % (140 * 24 * 60)),
                 "updated_at": created}
                for n in chunk
            ])  # fmt: skip
            await conn.execute(insert(IdeaCollaborator), [
                {"idea_id": n + 1, "user_id": (n + 7) % ideas + 1, "joined_at": created}
                for n in chunk if n % 5 == 0 and (n + 7) % ideas != n
            ])  # fmt: skip
            deliver = [n for n in chunk if STAGES[n % 5] is Stage.DELIVER]
            await conn.execute(insert(MonitoringReport), [
                {"idea_id": n + 1, "period": "2027-03", "progress": 50, "done": "Uji coba",
                 "obstacles": OBSTACLES[n % len(OBSTACLES)], "next_step": "Lanjut",
                 "submitted_at": MOMENT, "updated_at": MOMENT}
                for n in deliver if n % 3 != 0
            ])  # fmt: skip
            shown = [n for n in chunk if STAGES[n % 5] in (Stage.DELIVER, Stage.DISPLAY)]
            await conn.execute(insert(IdeaAttachment), [
                {"idea_id": n + 1, "kind": "document", "file_name": "bukti.pdf",
                 "storage_path": "/data/bukti.pdf", "indicator": INDICATORS[n % 4],
                 "created_at": created}
                for n in shown if n % 3 == 0
            ])  # fmt: skip
            await conn.execute(insert(SimilarityDecision), [
                {"user_id": n + 1, "idea_id": n + 1, "draft_name": f"Inovasi {n}",
                 "matched_doc_id": "idea:1", "score": 90.0, "decision": DECISIONS[n % 4],
                 "created_at": MOMENT - timedelta(hours=n % 300)}
                for n in chunk if n % 20 == 0
            ])  # fmt: skip
    if engine.dialect.name == "postgresql":
        # As autovacuum leaves a settled database: statistics, and the visibility map that
        # lets the figures' covering indexes answer without the table.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def measure(url: str, label: str, ideas: int, opds: int, rounds: int) -> None:
    from handlers.i18n import Translator
    from reports.chart import digest_chart
    from reports.digest import build_digest, digest_text
    from storage.db import Database
    from storage.figures import participation_apart
    from storage.migrate import upgrade_to_head_async

    await upgrade_to_head_async(url)
    started = time.perf_counter()
    await seed(url, ideas, opds)
    print(f"{label}: seeded {ideas:,} ideas across {opds} OPDs in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    database = Database(url)
    t = Translator("id")
    try:
        times, charts = [], []
        text_out = ""
        for _ in range(rounds):
            started = time.perf_counter()
            async with database.sessions() as session:
                digest = await build_digest(
                    session, scope=None, moment=MOMENT, tz=WIB,
                    apart=participation_apart(database),
                )  # fmt: skip
            text_out = digest_text(digest, t)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            digest_chart(digest.figures, t)
            charts.append(time.perf_counter() - started)
        median, worst = statistics.median(times), max(times)
        verdict = "OK" if worst <= TARGET_SECONDS else "OVER TARGET"
        print(f"{label}: digest (figures + text) p50 {median:.3f} s, max {worst:.3f} s "
              f"over {rounds} runs (target {TARGET_SECONDS:.1f} s: {verdict}); "
              f"chart p50 {statistics.median(charts):.3f} s")  # fmt: skip
        print(
            f"{label}: {len(text_out)} characters, first lines: "
            + " | ".join(text_out.splitlines()[2:5])
        )
    finally:
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--opds", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SASI_TEST_DATABASE_URL", ""),
        help="a PostgreSQL server to measure on too (a scratch database is made and dropped)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as workdir:
            url = f"sqlite+aiosqlite:///{Path(workdir) / 'digest.db'}"
            await measure(url, "SQLite", args.ideas, args.opds, args.rounds)
    if not args.database_url:
        print("PostgreSQL NOT measured: set SASI_TEST_DATABASE_URL or pass --database-url")
        return
    async with scratch_postgres(args.database_url) as url:
        await measure(url, "PostgreSQL", args.ideas, args.opds, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
