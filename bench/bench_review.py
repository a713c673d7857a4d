"""The review queue at scale: how long a Bappeda officer waits for ``/tinjau``.

    .venv/bin/python bench/bench_review.py                   # 5,000 pending ideas, SQLite
    .venv/bin/python bench/bench_review.py --ideas 20000
    .venv/bin/python bench/bench_review.py --postgres postgresql+asyncpg://…/db

N ideas waiting for review across the demo OPDs (one in ten a possible duplicate the submitter
chose to continue), plus as many reviewed ones. Through the real core, as Bappeda (who sees
every OPD): the queue's first page, the next page, and one idea's detail with its closest
matches. Each is timed five times; the median and the worst are printed. Target: the queue's
first page within 0.5 s at 5,000 pending ideas.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from storage.models import (  # noqa: E402
    Idea,
    IdeaStatus,
    Identity,
    Opd,
    Role,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
    User,
    UserRole,
)

TOPICS = """antrian puskesmas lansia posyandu kader jemput daring aplikasi sekolah guru jalan
lampu sampah bank pasar retribusi pajak izin usaha ktp akta desa air bersih banjir sungai
pertanian pupuk nelayan ikan wisata budaya perpustakaan baca gizi balita imunisasi"""
WORDS = TOPICS.split()


def _text(n: int, length: int) -> str:
    return " ".join(WORDS[(n * 7 + i * 13) % len(WORDS)] for i in range(length))


async def seed(url: str, pending: int) -> int:
    from bot.demo import DEMO_DIR
    from bot.opd_import import read_opd_csv

    engine = create_async_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        opds = read_opd_csv(DEMO_DIR / "opds.csv")
        await conn.execute(
            insert(Opd), [{"name": o.name, "short_name": o.short_name} for o in opds]
        )
        opd_ids = list((await conn.execute(select(Opd.id))).scalars())
        user_id = (
            await conn.execute(
                insert(User)
                .values(full_name="Agus Wijaya", nip="197905102005011002", locale="id",
                        opd_id=opd_ids[0], registered_at=now, created_at=now)
                .returning(User.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            insert(Identity).values(user_id=user_id, channel="terminal", external_id="bappeda")
        )
        await conn.execute(insert(UserRole).values(user_id=user_id, role=Role.BAPPEDA))
        rows = [
            {
                "name": f"INOVASI {n}",
                "problem": _text(n, 14),
                "idea": _text(n + 1, 16),
                "opd_id": opd_ids[n % len(opd_ids)],
                "owner_id": user_id,
                "stage": Stage.DIAGNOSE,
                "status": IdeaStatus.SUBMITTED if n < pending else IdeaStatus.VERIFIED,
                "reviewed_at": None if n < pending else now,
                "created_at": now - timedelta(minutes=n),
                "updated_at": now - timedelta(minutes=n),
            }
            for n in range(2 * pending)
        ]
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(Idea), rows[start : start + 5000])
        ids = list((await conn.execute(select(Idea.id).order_by(Idea.id))).scalars())
        await conn.execute(
            insert(SimilarityDecision),
            [
                {
                    "user_id": user_id,
                    "idea_id": idea_id,
                    "draft_name": "x",
                    "matched_doc_id": f"idea:{ids[-1]}",
                    "matched_idea_id": ids[-1],
                    "score": 80.0,
                    "decision": SimilarityDecisionKind.CONTINUE,
                }
                for idea_id in ids[:pending:10]
            ],
        )
    await engine.dispose()
    return ids[pending // 2]


async def timed(label: str, action: object) -> None:
    assert callable(action)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    print(f"  {label:<32} median {statistics.median(times):.3f} s   worst {max(times):.3f} s")


async def run(url: str, pending: int, workdir: Path) -> None:
    from bot.app import open_core
    from bot.config import Settings
    from tests.chat import ChatDriver

    idea_id = await seed(url, pending)
    settings = Settings(
        database_url=url, data_dir=workdir / "data", attachments_dir=workdir / "files"
    )
    async with open_core(settings, migrate=False) as core:
        chat = ChatDriver(core)
        first = await chat.say("bappeda", "/tinjau")
        assert "INOVASI" in first[-1].text, first[-1].text

        async def queue() -> None:
            await chat.say("bappeda", "/tinjau")

        async def next_page() -> None:
            await chat.say("bappeda", "/tinjau")
            await chat.press("bappeda", "page:next")

        async def detail() -> None:
            await chat.say("bappeda", f"/tinjau {idea_id}")

        print(f"{pending:,} pending ideas ({2 * pending:,} in all), {url.split(':')[0]}:")
        await timed("/tinjau (first page)", queue)
        await timed("/tinjau, then the next page", next_page)
        await timed(f"/tinjau {idea_id} (detail, matches)", detail)

        # A bulk move changes what it moves: timed once, every idea of the first OPD listed.
        await chat.say("bappeda", "/tinjau tahap")
        await chat.press("bappeda", chat.choices("bappeda")[0].payload)
        await chat.press("bappeda", "rv:from:diagnose")
        await chat.press("bappeda", "rv:all")
        chosen = chat.payload("bappeda", "(")  # "Lanjut (N dipilih)"
        await chat.press("bappeda", chosen)
        await chat.press("bappeda", "rv:bto:design")
        started = time.perf_counter()
        replies = await chat.press("bappeda", "rv:yes")
        took = time.perf_counter() - started
        print(f"  bulk move, confirmed              {took:.3f} s   ({replies[0].text})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=int, default=5000, help="pending ideas (default 5000)")
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL to use")
    args = parser.parse_args()
    from storage.migrate import upgrade_to_head

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = args.postgres or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        if args.postgres:
            engine_url = args.postgres

            async def reset() -> None:
                engine = create_async_engine(engine_url)
                async with engine.begin() as conn:
                    await conn.execute(text("DROP SCHEMA public CASCADE"))
                    await conn.execute(text("CREATE SCHEMA public"))
                await engine.dispose()

            asyncio.run(reset())
        upgrade_to_head(url)
        asyncio.run(run(url, args.ideas, workdir))


if __name__ == "__main__":
    main()
