"""Speed and memory of SASI's similar-idea index beside a full rapidfuzz scan.

Usage: .venv/bin/python bench/bench_similarity_speed.py [--sizes 1000,10000,100000,1000000]

Each size runs in a fresh subprocess (so resident memory is that of one index) on a
synthetic corpus: descriptions recombined from the development set's Indonesian text,
acronym names drawn from a pool of invented tokens (Zipf-distributed, as real acronyms
repeat), and place names after region markers. Queries are half near-copies of corpus
entries (reworded: words dropped and shuffled) and half fresh recombinations.

Printed per size: index build time with a cold stem cache (every distinct word goes
through PySastrawi) and a warm one (a restart with the cache persisted, see
``SimilarityIndex(stem_cache=...)``), resident memory after the build and its peak during
the build (VmHWM), and search latency p50/p95 for SASI (indexed, and ``await search``
including the thread hop) and for a rapidfuzz ``token_set_ratio`` scan over every entry.
A cold build of more than a few thousand new words also runs a helper process (see
``bot.similarity.parallel``); its memory is its own and not counted here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "da",
    "de",
    "di",
    "do",
    "du",
    "ga",
    "gi",
    "go",
    "ja",
    "ji",
    "jo",
    "ka",
    "ke",
    "ki",
    "ko",
    "ku",
    "la",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ni",
    "no",
    "nu",
    "pa",
    "pi",
    "po",
    "ra",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "ti",
    "to",
    "tu",
    "wa",
    "wi",
    "ya",
    "yu",
    "ng",
]
MARKERS = ("Kabupaten", "Kota", "Desa", "Kecamatan", "Kelurahan")


def _rss_kb() -> tuple[int, int]:
    """Current and peak resident set size of this process, in kB."""
    cur = peak = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1])
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return cur, peak


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


def make_corpus(n: int, seed: int = 1) -> list[tuple[str, str, str]]:
    """Synthetic (doc_id, name, description) rows built from the development set."""
    return list(iter_corpus(n, seed))


def iter_corpus(n: int, seed: int = 1) -> Iterator[tuple[str, str, str]]:
    """The rows of :func:`make_corpus` one at a time, as a database cursor gives them."""
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    from bot.similarity.corpus import load_table

    rows = load_table(ROOT / "tests" / "data" / "similarity_devset.tsv")
    rng = random.Random(seed)
    # Topic words: Indonesian root words, Zipf-distributed, so that entries differ in
    # content the way a real directory's do (the development set alone has 165 texts).
    roots = sorted(w for w in StemmerFactory().get_words() if w.isalpha() and len(w) > 3)
    random.Random(0).shuffle(roots)
    # Cumulative weights, computed once: ``choices(weights=...)`` would re-add all the
    # roots' weights on every call, which made a million-row corpus take 20 minutes.
    # (The same draws as with ``weights``: choices accumulates them the same way.)
    root_cum = list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(roots))))
    texts = [r["description"].split() for r in rows]
    names = [r["name"].split() for r in rows]
    acronyms = [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).upper()
        for _ in range(6000)
    ]
    places = [
        "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        for _ in range(3000)
    ]
    acronym_cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(acronyms))))
    for i in range(n):
        a, b = rng.randrange(len(texts)), rng.randrange(len(texts))
        words = texts[a][:] + rng.sample(texts[b], k=len(texts[b]) // 3)
        rng.shuffle(words)
        words = words[: rng.randint(20, 45)]
        topic = rng.choices(roots, cum_weights=root_cum, k=len(words) * 2 // 5)
        for k, word in enumerate(topic):
            words[(k * 5) // 2] = word
        words.insert(rng.randrange(len(words) + 1), f"{rng.choice(MARKERS)} {rng.choice(places)}")
        acr = "-".join(rng.choices(acronyms, cum_weights=acronym_cum, k=rng.randint(1, 2)))
        name = f"{acr} " + " ".join(rng.sample(names[a], k=min(2, len(names[a]))))
        yield (f"dir:{i}", name, " ".join(words))


def make_queries(
    corpus: list[tuple[str, str, str]], n: int, seed: int = 2
) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    fresh = make_corpus(n, seed=seed + 100)
    queries: list[tuple[str, str]] = []
    for i in range(n):
        if i % 2 == 0:
            _, name, desc = rng.choice(corpus)
            words = desc.split()
            rng.shuffle(words)
            queries.append((name, " ".join(words[: int(len(words) * 0.7)])))
        else:
            queries.append(fresh[i][1:])
    return queries


def write_corpus(size: int, path: Path) -> None:
    """Synthetic corpus as a TSV file, so the measured process can stream it."""
    with path.open("w", encoding="utf-8") as fh:
        for doc_id, name, desc in iter_corpus(size):
            fh.write(f"{doc_id}\t{name}\t{desc}\n")


def read_corpus(path: Path) -> Iterator[tuple[str, str, str]]:
    """Rows of a file written by :func:`write_corpus`, one at a time (like a cursor)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            doc_id, name, desc = line.rstrip("\n").split("\t")
            yield doc_id, name, desc


def run_one(size: int, path: Path, n_queries: int, n_scan: int) -> dict[str, float]:
    """Measure one size in this process (called in a subprocess)."""
    from rapidfuzz import fuzz, process, utils

    from bot.similarity import SimilarityIndex

    SimilarityIndex().rebuild([])  # imports, dictionaries and numpy loaded before measuring

    cache = Path(tempfile.mkdtemp()) / "stems.tsv"

    # Memory as the bot has it: rows streamed from the database into the index, no
    # copy of the corpus kept around.
    rss_before, _ = _rss_kb()
    index = SimilarityIndex(stem_cache=cache)
    t0 = time.perf_counter()
    index.rebuild(read_corpus(path))
    cold = time.perf_counter() - t0
    gc.collect()
    rss_after, peak_first = _rss_kb()
    distinct = len(index.normalizer.stem_cache_snapshot())

    corpus = list(read_corpus(path))
    queries = make_queries(corpus, n_queries)

    # A restart: new process state is simulated by a new index reading the saved cache.
    index = SimilarityIndex(stem_cache=cache)
    t0 = time.perf_counter()
    index.rebuild(corpus)
    warm = time.perf_counter() - t0
    rss_final, peak = _rss_kb()

    for q in queries[:20]:  # warm the query words' stems, as a running bot has
        index.search_sync(*q)
    lat = []
    shown = 0
    for name, desc in queries:
        t0 = time.perf_counter()
        res = index.search_sync(name, desc)
        lat.append((time.perf_counter() - t0) * 1000)
        shown += bool(res)

    async def async_lat() -> list[float]:
        out = []
        for name, desc in queries[:200]:
            t0 = time.perf_counter()
            await index.search(name, desc)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    alat = asyncio.run(async_lat())

    choices = [utils.default_process(f"{n} {d}") for _, n, d in corpus]
    scan = []
    for name, desc in queries[:n_scan]:
        t0 = time.perf_counter()
        process.extract(
            utils.default_process(f"{name} {desc}"), choices, scorer=fuzz.token_set_ratio, limit=3
        )
        scan.append((time.perf_counter() - t0) * 1000)

    return {
        "size": size,
        "build_cold_s": cold,
        "build_warm_s": warm,
        "distinct_words": distinct,
        "rss_before_mb": rss_before / 1024,
        "rss_after_build_mb": rss_after / 1024,
        "rss_final_mb": rss_final / 1024,
        "rss_peak_mb": peak / 1024,
        "rss_peak_first_mb": peak_first / 1024,
        "p50_ms": statistics.median(lat),
        "p95_ms": _percentile(lat, 0.95),
        "async_p50_ms": statistics.median(alat),
        "async_p95_ms": _percentile(alat, 0.95),
        "queries": len(lat),
        "queries_warned": shown,
        "scan_p50_ms": statistics.median(scan),
        "scan_p95_ms": _percentile(scan, 0.95),
        "scan_queries": len(scan),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--corpus-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        # A full scan of a million ideas takes seconds; a few show its order of magnitude.
        n_scan = 200 if args.one <= 10_000 else 30 if args.one <= 100_000 else 5
        print(json.dumps(run_one(args.one, args.corpus_file, args.queries, n_scan)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="sasi-bench-"))
    print("SASI similarity index: speed and memory (synthetic corpora, see module docstring)")
    print("RSS MB = resident memory of the process right after the first (cold) build,")
    print("peak MB = the most it held during that build (VmHWM)")
    print(
        f"{'ideas':>7} {'build cold':>10} {'build warm':>10} {'words':>6} {'RSS MB':>7} "
        f"{'peak MB':>7} {'p50 ms':>7} {'p95 ms':>7} {'async p95':>9} {'warned':>7} "
        f"{'scan p50':>9} {'scan p95':>9}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        corpus_file = workdir / f"corpus-{size}.tsv"
        write_corpus(size, corpus_file)
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--corpus-file",
                str(corpus_file),
                "--queries",
                str(args.queries),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        corpus_file.unlink()
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{r['size']:>7} {r['build_cold_s']:>9.2f}s {r['build_warm_s']:>9.2f}s "
            f"{r['distinct_words']:>6} {r['rss_after_build_mb']:>7.1f} "
            f"{r['rss_peak_first_mb']:>7.1f} {r['p50_ms']:>7.2f} "
            f"{r['p95_ms']:>7.2f} {r['async_p95_ms']:>9.2f} "
            f"{r['queries_warned'] / r['queries']:>7.0%} "
            f"{r['scan_p50_ms']:>9.1f} {r['scan_p95_ms']:>9.1f}"
        )
        print(
            f"        RSS: {r['rss_before_mb']:.1f} MB before the build (interpreter, numpy, "
            f"PySastrawi), {r['rss_after_build_mb']:.1f} MB after it (peak "
            f"{r['rss_peak_first_mb']:.1f}); {r['rss_final_mb']:.1f} MB at the end with the "
            f"corpus text, a second index and the scan's copy in memory (peak "
            f"{r['rss_peak_mb']:.1f}); {r['queries']} SASI queries, {r['scan_queries']} "
            "rapidfuzz scans"
        )
    print(
        "targets at 100,000: p95 <= 10 ms, rebuild <= 5 s, RSS and peak <= 200 MB; "
        "1,000,000 has no target"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
