"""The peers' methods, for side-by-side evaluation with SASI (bench and tests only).

Each function takes labelled rows (``id``, ``name``, ``description``) and returns, for
every row, all *other* rows with their score (0–100), best first. Thresholds are
applied later, so each method can be judged at its best threshold in hindsight.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from rapidfuzz import fuzz, process, utils

Scored = dict[str, list[tuple[str, float]]]


def _rank(ids: Sequence[str], matrix: Sequence[Sequence[float]]) -> Scored:
    out: Scored = {}
    for i, qid in enumerate(ids):
        row = [(ids[j], float(matrix[i][j])) for j in range(len(ids)) if j != i]
        row.sort(key=lambda x: (-x[1], x[0]))
        out[qid] = row
    return out


def _text(row: dict[str, str]) -> str:
    return f"{row.get('name', '')} {row.get('description', '')}"


def rapidfuzz_token_set(rows: Sequence[dict[str, str]]) -> Scored:
    """rapidfuzz ``token_set_ratio`` with ``default_process`` on name + description."""
    ids = [r["id"] for r in rows]
    texts = [_text(r) for r in rows]
    # process.extract rather than cdist: cdist needs numpy, which SASI does not use.
    matrix = [[0.0] * len(texts) for _ in texts]
    for i, text in enumerate(texts):
        for _, score, j in process.extract(
            text,
            texts,
            scorer=fuzz.token_set_ratio,
            processor=utils.default_process,
            limit=None,
        ):
            matrix[i][j] = score
    return _rank(ids, matrix)


_WORD = re.compile(r"\w+")


def tfidf_cosine(rows: Sequence[dict[str, str]]) -> Scored:
    """Plain TF-IDF cosine on lower-cased words of name + description (no stemming,
    no stopwords, no synonyms), smoothed idf ``ln((1+N)/(1+df)) + 1`` as in scikit-learn.
    """
    ids = [r["id"] for r in rows]
    docs = [Counter(_WORD.findall(_text(r).lower())) for r in rows]
    n = len(docs)
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    vecs: list[dict[str, float]] = []
    for d in docs:
        v = {t: tf * (math.log((1 + n) / (1 + df[t])) + 1) for t, tf in d.items()}
        norm = math.sqrt(sum(w * w for w in v.values())) or 1.0
        vecs.append({t: w / norm for t, w in v.items()})
    matrix = [[100.0 * sum(w * b.get(t, 0.0) for t, w in a.items()) for b in vecs] for a in vecs]
    return _rank(ids, matrix)


async def decidim_trigram(rows: Sequence[dict[str, str]], dsn: str) -> Scored:
    """Decidim's comparator: ``GREATEST(similarity(title), similarity(body))`` with pg_trgm.

    Runs in a temporary table on the given PostgreSQL; raises ``OSError`` or
    ``asyncpg`` errors when the server or the extension is not available.
    """
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        had_trgm = await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await conn.execute(
            "CREATE TEMP TABLE sasi_bench_decidim (id text PRIMARY KEY, title text, body text)"
        )
        await conn.executemany(
            "INSERT INTO sasi_bench_decidim VALUES ($1, $2, $3)",
            [(r["id"], r.get("name", ""), r.get("description", "")) for r in rows],
        )
        records = await conn.fetch(
            """
            SELECT q.id AS qid, c.id AS cid,
                   GREATEST(similarity(q.title, c.title), similarity(q.body, c.body)) AS s
            FROM sasi_bench_decidim q CROSS JOIN sasi_bench_decidim c
            WHERE q.id <> c.id
            """
        )
        await conn.execute("DROP TABLE sasi_bench_decidim")
        if not had_trgm:  # leave the database as we found it
            await conn.execute("DROP EXTENSION IF EXISTS pg_trgm")
    finally:
        await conn.close()
    out: Scored = {r["id"]: [] for r in rows}
    for rec in records:
        out[rec["qid"]].append((rec["cid"], 100.0 * float(rec["s"])))
    for lst in out.values():
        lst.sort(key=lambda x: (-x[1], x[0]))
    return out
