"""Accuracy of SASI's similar-idea check beside the peers' methods, on labelled data.

Usage: .venv/bin/python bench/bench_similarity_accuracy.py [--data FILE] [--dsn DSN]

FILE (default: tests/data/similarity_devset.tsv) needs ``name``, ``description`` and
``group`` columns (rows sharing a group are the same idea); ``id`` is optional. Every row
is checked against all the others and judged on what a submitter sees (at most 3):
precision, recall and quiet (see bot/similarity/evaluate.py). SASI runs at its shipped
threshold; each baseline is shown at the threshold that was best in hindsight (the one
maximising the worst of the three figures), which flatters the baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.similarity import baselines  # noqa: E402
from bot.similarity.corpus import load_table  # noqa: E402
from bot.similarity.evaluate import Metrics, best_threshold, evaluate  # noqa: E402
from bot.similarity.index import SimilarityIndex  # noqa: E402

DEFAULT_DATA = ROOT / "tests" / "data" / "similarity_devset.tsv"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
LIMIT = 3


def sasi_shown(rows: list[dict[str, str]]) -> tuple[float, dict[str, list[str]]]:
    index = SimilarityIndex()
    index.rebuild((r["id"], r["name"], r["description"]) for r in rows)
    shown = {
        r["id"]: [
            m.doc_id
            for m in index.search_sync(r["name"], r["description"], LIMIT, exclude=[r["id"]])
        ]
        for r in rows
    }
    return index.threshold, shown


def line(label: str, threshold: str, m: Metrics) -> str:
    return (
        f"{label:<58} {threshold:>9} {m.precision:>9.3f} {m.recall:>7.3f} {m.quiet:>6.3f}"
        f" {m.shown:>6}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    args = parser.parse_args(argv)
    rows = load_table(args.data)
    for i, r in enumerate(rows):
        r.setdefault("id", str(i + 1))
        if not r["id"]:
            r["id"] = str(i + 1)
        if "group" not in r:
            print("bench: the data needs a 'group' column", file=sys.stderr)
            return 2
    groups = {r["id"]: r["group"] or f"_row{r['id']}" for r in rows}
    partnered = sum(1 for g in groups.values() if list(groups.values()).count(g) > 1)
    print(f"data: {args.data}: {len(rows)} entries, {partnered} with a same-idea partner, "
          f"{len(rows) - partnered} without")
    print(f"what a submitter sees: at most {LIMIT} ideas per query, each entry against all "
          "others; (best) = baseline at its best threshold in hindsight")
    print()
    header = f"{'method':<58} {'threshold':>9} {'precision':>9} {'recall':>7} {'quiet':>6}"
    print(f"{header} {'shown':>6}")

    t0 = time.perf_counter()
    thr, shown = sasi_shown(rows)
    sasi = evaluate(shown, groups)
    t_sasi = time.perf_counter() - t0
    print(line("SASI (shipped threshold)", f"{thr:.1f}", sasi))

    results: list[tuple[str, Metrics]] = []
    for label, fn in (
        ("rapidfuzz token_set_ratio + default_process", baselines.rapidfuzz_token_set),
        ("plain TF-IDF cosine", baselines.tfidf_cosine),
    ):
        scored = fn(rows)
        bthr, m = best_threshold(scored, groups, LIMIT)
        print(line(f"{label} (best)", f"{bthr:.1f}", m))
        results.append((label, m))

    try:
        scored = asyncio.run(baselines.decidim_trigram(rows, args.dsn))
    except Exception as exc:  # any connection or extension failure means "skipped"
        print(f"{'Decidim pg_trgm':<58} skipped: PostgreSQL/pg_trgm not available ({exc})")
    else:
        fixed = {q: [d for d, s in ms if s >= 25.0][:LIMIT] for q, ms in scored.items()}
        m_fixed = evaluate(fixed, groups)
        print(line("Decidim pg_trgm GREATEST(title,body) (as shipped)", "25.0", m_fixed))
        bthr, m = best_threshold(scored, groups, LIMIT)
        print(line("Decidim pg_trgm GREATEST(title,body) (best)", f"{bthr:.1f}", m))
        results.append(("Decidim pg_trgm", m))

    print()
    print(f"SASI check of {len(rows)} entries took {t_sasi:.2f} s (index build included)")
    targets = sasi.precision >= 0.8 and sasi.recall >= 0.9 and sasi.quiet >= 0.7
    print(f"targets precision>=0.8 recall>=0.9 quiet>=0.7: {'met' if targets else 'NOT met'}")
    for label, m in results:
        ahead = sasi.balanced - m.balanced
        print(f"SASI worst figure {sasi.balanced:.3f} vs {label} {m.balanced:.3f}: "
              f"{'ahead' if ahead > 0 else 'NOT ahead'} by {ahead:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
