"""Tuning aid for the similar-idea check: scores settings on the sets that may be tuned on.

Usage: .venv/bin/python bench/tune_similarity.py [--grid] [--failures] [--baselines]

Reads the project devset, the shared real development set and the *tune* part of the
collected real entries, never the held-out part (that one is only reported by
bench/bench_similarity_accuracy.py). Prints precision / recall / quiet per set for the
shipped settings, or for a small grid of settings with ``--grid``; ``--failures`` lists
the tune part's misses and false warnings, to read while extending the lexicon;
``--baselines`` adds plain TF-IDF and rapidfuzz at their best thresholds in hindsight on
each of these sets (what SASI's worst figure has to beat). A full run takes well under a
minute on an idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.similarity import baselines  # noqa: E402
from bot.similarity.corpus import load_table  # noqa: E402
from bot.similarity.evaluate import Metrics, best_threshold_by, evaluate  # noqa: E402
from bot.similarity.index import DEFAULT_THRESHOLD, ScoringParams, SimilarityIndex  # noqa: E402
from bot.similarity.judged import JudgedSet, evaluate_judged, load_judged, split_of  # noqa: E402

DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


def tune_sets() -> list[tuple[str, list[dict[str, str]], object]]:
    dev = load_table(DATA / "similarity_devset.tsv")
    for i, r in enumerate(dev):
        r.setdefault("id", str(i + 1))
    groups = {r["id"]: r["group"] or f"_row{r['id']}" for r in dev}
    real = load_judged(
        SHARED / "real_innovations_dev.tsv", SHARED / "real_innovations_dev_groups.tsv"
    )
    coll = load_judged(
        DATA / "real" / "real_innovations_collected.tsv",
        DATA / "real" / "real_innovations_collected_groups.tsv",
    )
    tune = coll.subset(r["id"] for r in coll.rows if split_of(r) == "tune")
    return [
        ("devset", dev, groups),
        ("real dev", real.rows, real),
        ("collected tune", tune.rows, tune),
    ]


def shown_for(rows: list[dict[str, str]], index: SimilarityIndex) -> dict[str, list[str]]:
    index.rebuild((r["id"], r["name"], r["description"]) for r in rows)
    return {
        r["id"]: [m.doc_id for m in index.search_sync(r["name"], r["description"], 3, [r["id"]])]
        for r in rows
    }


def judge(judged: object, shown: dict[str, list[str]]) -> Metrics:
    if isinstance(judged, JudgedSet):
        return evaluate_judged(shown, judged)
    assert isinstance(judged, dict)
    return evaluate(shown, judged)


def run(
    threshold: float,
    params: ScoringParams,
    sets: list,
    failures: bool = False,
    failures_of: tuple[str, ...] = ("collected tune", "real dev"),
) -> list[Metrics]:
    out = []
    for label, rows, judged in sets:
        index = SimilarityIndex(threshold=threshold, params=params)
        shown = shown_for(rows, index)
        out.append(judge(judged, shown))
        if failures and isinstance(judged, JudgedSet) and label in failures_of:
            by_id = {r["id"]: r for r in rows}
            partners: dict[str, set[str]] = {}
            for pair in judged.positive:
                a, b = tuple(pair)
                partners.setdefault(a, set()).add(b)
                partners.setdefault(b, set()).add(a)
            for q, got in shown.items():
                wrong = [g for g in got if judged.label(q, g) == -1]
                missed = q in partners and not any(judged.label(q, g) == 1 for g in got)
                if wrong or missed or (q not in judged.grouped and got):
                    names = [by_id[g]["name"] for g in got]
                    lost = [by_id[p]["name"] for p in partners.get(q, ())] if missed else []
                    print(
                        f"- [{label}] {by_id[q]['name']!r}: shown {names}"
                        + (f" MISSED {lost}" if missed else "")
                    )
    return out


def baseline_figures(sets: list) -> None:
    for label, rows, judged in sets:
        for name, fn in (
            ("plain TF-IDF", baselines.tfidf_cosine),
            ("rapidfuzz", baselines.rapidfuzz_token_set),
        ):
            thr, m = best_threshold_by(fn(rows), lambda s, j=judged: judge(j, s), 3)
            print(
                f"  {label:<15} {name:<13} best thr={thr:<5} "
                f"{m.precision:.2f}/{m.recall:.2f}/{m.quiet:.2f}  worst={m.balanced:.3f}"
            )


def fmt(ms: list[Metrics]) -> str:
    return "  ".join(f"{m.precision:.2f}/{m.recall:.2f}/{m.quiet:.2f}" for m in ms)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--failures", action="store_true")
    ap.add_argument("--baselines", action="store_true")
    args = ap.parse_args(argv)
    sets = tune_sets()
    base = ScoringParams()
    print("sets: devset, real dev, collected tune; each precision/recall/quiet")
    ms = run(DEFAULT_THRESHOLD, base, sets, args.failures)
    worst = min(m.balanced for m in ms)
    print(f"shipped thr={DEFAULT_THRESHOLD} {base}: {fmt(ms)}  worst={worst:.3f}")
    print("  worst per set: " + "  ".join(f"{m.balanced:.3f}" for m in ms))
    if args.baselines:
        baseline_figures(sets)
    if args.grid:
        rows = []
        for thr, nw, floor, rel in itertools.product(
            (21.0, 22.0, 23.0, 24.0, 25.0), (0.25, 0.3), (2.5, 3.0, 3.5), (0.6, 0.7, 0.8)
        ):
            p = dataclasses.replace(base, name_weight=nw, info_floor=floor, relative_cut=rel)
            ms = run(thr, p, sets)
            rows.append((min(m.balanced for m in ms), thr, nw, floor, rel, fmt(ms)))
        for r in sorted(rows, reverse=True)[:12]:
            print(f"worst={r[0]:.3f} thr={r[1]} name_w={r[2]} floor={r[3]} rel={r[4]}: {r[5]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
