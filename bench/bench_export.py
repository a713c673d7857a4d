"""The Direktori Inovasi export at scale: 100,000 ideas to XLSX, time and peak memory.

    .venv/bin/python bench/bench_export.py                         # SQLite, and PostgreSQL
                                                                   # when SASI_TEST_DATABASE_URL
                                                                   # is set
    .venv/bin/python bench/bench_export.py --postgres postgresql+asyncpg://postgres@127.0.0.1/x
    .venv/bin/python bench/bench_export.py --ideas 10000 --format csv

The ideas are bulk-inserted with every field filled (texts of 150-400 characters), spread
over 500 OPDs and 5,000 owners; a fifth have a collaborator, 30 % two monitoring reports,
30 % three eviden files tagged with IID indicators. The export then runs in a child process
(``--child``), so its peak resident memory (``ru_maxrss``) is the export's own plus the
interpreter's, not the seeding's. Targets: at most 15 s and at most 300 MB, on each database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from handlers.idea_fields import AFFAIRS, FORMS, INITIATORS  # noqa: E402
from handlers.indicators import indicator_codes  # noqa: E402
from storage.models import (  # noqa: E402
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Opd,
    Stage,
    User,
    utcnow,
)

TARGET_SECONDS = 15.0
TARGET_MB = 300.0
CHUNK = 5000
_VOCABULARY = (
    "layanan antrean puskesmas warga desa digital aplikasi pendaftaran pasien lansia kader "
    "posyandu perekaman ktp dukcapil sampah bank pengaduan sekolah guru stunting gizi ibu "
    "hamil bidan jalan rusak lampu pasar umkm pajak retribusi perizinan online whatsapp "
    "jemput bola kecamatan kelurahan air bersih sanitasi banjir bencana pertanian pupuk"
)
WORDS = _VOCABULARY.split()


def _texts(rng: random.Random, count: int, low: int, high: int) -> list[str]:
    pool = []
    for _ in range(count):
        words: list[str] = []
        target = rng.randint(low, high)
        while sum(len(w) + 1 for w in words) < target:
            words.append(rng.choice(WORDS))
        pool.append(" ".join(words).capitalize() + ".")
    return pool


async def seed(url: str, ideas: int, opds: int = 500, owners: int = 5000) -> None:
    rng = random.Random(20271)
    long_texts = _texts(rng, 3000, 150, 400)
    short_texts = _texts(rng, 1000, 40, 120)
    codes = indicator_codes()
    engine = create_async_engine(url)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(insert(Opd), [
            {"id": n + 1, "name": f"Dinas Nomor {n + 1}", "short_name": f"D{n + 1}",
             "created_at": now} for n in range(opds)
        ])  # fmt: skip
        await conn.execute(insert(User), [
            {"id": n + 1, "full_name": f"ASN Nomor {n}", "nip": f"1990010120150{n:05d}",
             "opd_id": n % opds + 1, "locale": "id", "registered_at": now, "created_at": now}
            for n in range(owners)
        ])  # fmt: skip
        stages = list(Stage)
        statuses = [IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED, IdeaStatus.REJECTED]
        for start in range(0, ideas, CHUNK):
            chunk = range(start, min(ideas, start + CHUNK))
            await conn.execute(insert(Idea), [
                {"id": n + 1, "name": f"SI-INOVASI {n}", "problem": long_texts[n % 3000],
                 "idea": long_texts[(n * 7) % 3000], "goal": short_texts[n % 1000],
                 "benefit": short_texts[(n * 3) % 1000], "beneficiaries": "Warga",
                 "is_digital": bool(n % 2), "form": FORMS[n % len(FORMS)],
                 "affair": AFFAIRS[n % len(AFFAIRS)], "initiator": INITIATORS[n % len(INITIATORS)],
                 "budget_estimate": (n % 50) * 1_000_000 or None, "opd_id": n % opds + 1,
                 "owner_id": n % owners + 1, "stage": stages[n % 5],
                 "status": statuses[n % 3],
                 "launch_date": date(2027, 7, 1) + timedelta(days=n % 90) if n % 3 else None,
                 "created_at": now - timedelta(minutes=n), "updated_at": now}
                for n in chunk
            ])  # fmt: skip
            collaborators = [
                {"idea_id": n + 1, "user_id": (n + 1) % owners + 1, "joined_at": now}
                for n in chunk
                if n % 5 == 0
            ]
            await conn.execute(insert(IdeaCollaborator), collaborators)
            reports = [
                {"idea_id": n + 1, "period": period, "reporter_id": n % owners + 1,
                 "progress": progress, "done": short_texts[(n + progress) % 1000],
                 "obstacles": [], "next_step": "Lanjut", "submitted_at": now,
                 "updated_at": now}
                for n in chunk if n % 10 < 3
                for period, progress in (("2027-08", 40), ("2027-09", 70))
            ]  # fmt: skip
            await conn.execute(insert(MonitoringReport), reports)
            files = [
                {"idea_id": n + 1, "kind": "document", "file_name": f"eviden-{n}-{k}.pdf",
                 "storage_path": f"/data/eviden-{n}-{k}.pdf", "indicator": codes[(n + k) % 20],
                 "created_at": now}
                for n in chunk if n % 10 >= 7
                for k in range(3)
            ]  # fmt: skip
            await conn.execute(insert(IdeaAttachment), files)
    await engine.dispose()


async def child(url: str, out: Path, fmt: str) -> None:
    """Run one export and print its figures as JSON (the parent reads them)."""
    from reports.export import export_ideas
    from storage.db import Database

    database = Database(url)
    started = time.perf_counter()
    try:
        async with database.sessions() as session:
            result = await export_ideas(session, out, fmt, scope=None)  # type: ignore[arg-type]
    finally:
        await database.dispose()
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss  # KiB on Linux
    size = sum(p.stat().st_size for p in result.files)
    status = Path("/proc/self/status").read_text().splitlines()  # noqa: ASYNC240
    memory = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status) if k in (
        "RssAnon", "RssFile")}  # fmt: skip
    figures = {"ideas": result.ideas, "seconds": elapsed, "peak_kb": peak_kb, "bytes": size}
    # CPU time of the whole process (start-up included): less sensitive to a busy machine.
    figures["cpu"] = usage.ru_utime + usage.ru_stime
    figures |= memory
    print(json.dumps(figures))


def measure(url: str, label: str, fmt: str, workdir: Path) -> None:
    out = workdir / f"export-{uuid.uuid4().hex[:6]}.{fmt}"
    command = [sys.executable, __file__, "--child", url, "--out", str(out), "--format", fmt]
    started = time.perf_counter()
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    mb = figures["peak_kb"] / 1024
    seconds = figures["seconds"]
    verdict = "met" if seconds <= TARGET_SECONDS and mb <= TARGET_MB else "NOT met"
    print(
        f"{label}: {fmt.upper()} export of {figures['ideas']} ideas in {seconds:.2f} s "
        f"(process {wall:.2f} s with start-up, {figures['cpu']:.2f} s CPU), peak RSS {mb:.0f} MB "
        f"(at the end: "
        f"{figures.get('RssAnon', 0) / 1024:.0f} MB own memory, "
        f"{figures.get('RssFile', 0) / 1024:.0f} MB mapped files), "
        f"file {figures['bytes'] / 1e6:.1f} MB; targets {TARGET_SECONDS:.0f} s, "
        f"{TARGET_MB:.0f} MB: {verdict}"
    )


async def prepare(url: str, ideas: int, label: str) -> None:
    from storage.migrate import upgrade_to_head_async

    await upgrade_to_head_async(url)
    started = time.perf_counter()
    await seed(url, ideas)
    print(f"{label}: seeded {ideas} ideas in {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    parser.add_argument(
        "--postgres",
        "--database-url",
        dest="postgres",
        default=os.environ.get("SASI_TEST_DATABASE_URL", ""),
        help="a PostgreSQL URL; a scratch database is created beside it and dropped after",
    )
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.out, args.format))
        return
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'export.db'}"
        asyncio.run(prepare(url, args.ideas, "SQLite"))
        measure(url, "SQLite", args.format, Path(workdir))
        if not args.postgres:
            print("PostgreSQL NOT measured: set SASI_TEST_DATABASE_URL or pass --postgres URL")
            return
        name = f"sasi_bench_{uuid.uuid4().hex[:8]}"
        base = args.postgres.rsplit("/", 1)[0]
        asyncio.run(_admin(args.postgres, f'CREATE DATABASE "{name}"'))
        try:
            asyncio.run(prepare(f"{base}/{name}", args.ideas, "PostgreSQL"))
            measure(f"{base}/{name}", "PostgreSQL", args.format, Path(workdir))
        finally:
            asyncio.run(_admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, sql: str) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


if __name__ == "__main__":
    main()
