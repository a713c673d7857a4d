"""Train the semantic layer: PPMI + SVD word vectors, clustered into concepts.

Usage: .venv/bin/python bench/train_semantic.py [--dim 40] [--concepts 0] [--window 6]

Text: every description and name of the project devset, the shared real development set
and the *tune* part of the collected real entries (the held-out part is never read), plus
``bench/semantic_extra.txt`` if present (more public text, one document a line). Each text
goes through the index's own Normalizer, so vectors are learned for the very terms the
index matches. Co-occurrence counts within a window become positive PMI (context
distribution smoothed with exponent 0.75), an SVD keeps ``dim`` dimensions (U·S^0.5,
rows unit-normalised), and k-means (k-means++ seeding, fixed seed) groups the terms.
Writes ``bot/similarity/semantic_concepts.tsv`` (term, concept) and prints a sample.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.similarity.corpus import load_table  # noqa: E402
from bot.similarity.judged import load_judged, split_of  # noqa: E402
from bot.similarity.normalize import Normalizer  # noqa: E402
from bot.similarity.semantic import CONCEPTS_FILE  # noqa: E402

DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"
EXTRA = ROOT / "bench" / "semantic_extra.txt"


def training_texts() -> list[tuple[str, str]]:
    texts = [(r["name"], r["description"]) for r in load_table(DATA / "similarity_devset.tsv")]
    real = load_judged(
        SHARED / "real_innovations_dev.tsv", SHARED / "real_innovations_dev_groups.tsv"
    )
    texts += [(r["name"], r["description"]) for r in real.rows]
    coll = load_judged(
        DATA / "real" / "real_innovations_collected.tsv",
        DATA / "real" / "real_innovations_collected_groups.tsv",
    )
    texts += [(r["name"], r["description"]) for r in coll.rows if split_of(r) == "tune"]
    if EXTRA.is_file():
        texts += [("", line) for line in EXTRA.read_text(encoding="utf-8").splitlines() if line]
    return texts


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 50) -> np.ndarray:
    n = len(x)
    centers = [x[rng.integers(n)]]
    d2 = np.full(n, np.inf)
    for _ in range(1, k):
        d2 = np.minimum(d2, ((x - centers[-1]) ** 2).sum(1))
        centers.append(x[rng.choice(n, p=d2 / d2.sum())])
    c = np.array(centers)
    labels = np.zeros(n, dtype=int)
    for _ in range(iters):
        labels = np.argmax(x @ c.T, axis=1)  # rows are unit vectors: cosine assignment
        for j in range(k):
            members = x[labels == j]
            if len(members):
                m = members.mean(0)
                c[j] = m / (np.linalg.norm(m) or 1.0)
    return labels


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=40)
    ap.add_argument("--concepts", type=int, default=0, help="k for k-means (0: vocabulary/4)")
    ap.add_argument("--window", type=int, default=6)
    ap.add_argument("--min-df", type=int, default=2)
    ap.add_argument("--out", type=Path, default=CONCEPTS_FILE)
    args = ap.parse_args(argv)
    norm = Normalizer()
    docs = []
    for name, desc in training_texts():
        n, d = norm.field_terms(name, desc)
        docs.append([t for t in n + d if norm.term_factor(t) == 1.0])
    df = Counter(t for doc in docs for t in set(doc))
    vocab = sorted(t for t, c in df.items() if c >= args.min_df)
    index = {t: i for i, t in enumerate(vocab)}
    v = len(vocab)
    counts = np.zeros((v, v))
    for doc in docs:
        ids = [index[t] for t in doc if t in index]
        for i, a in enumerate(ids):
            for b in ids[max(0, i - args.window) : i]:
                if a != b:
                    counts[a, b] += 1
                    counts[b, a] += 1
    total = counts.sum()
    row = counts.sum(1)
    ctx = row**0.75
    ctx /= ctx.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log((counts / total) / np.outer(row / total, ctx))
    ppmi = np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)
    u, s, _ = np.linalg.svd(ppmi, full_matrices=False)
    vec = u[:, : args.dim] * np.sqrt(s[: args.dim])
    lens = np.linalg.norm(vec, axis=1)
    keep = lens > 0
    vec = vec[keep] / lens[keep, None]
    words = [w for w, k in zip(vocab, keep, strict=True) if k]
    k = args.concepts or max(2, len(words) // 4)
    labels = kmeans(vec, k, np.random.default_rng(13))
    lines = [
        "# Learned concepts of the similar-idea check (bot/similarity/semantic.py).",
        f"# bench/train_semantic.py: {len(docs)} texts, {len(words)} terms, PPMI+SVD dim "
        f"{args.dim}, window {args.window}, k-means k={k}. Generated; do not edit by hand.",
    ]
    lines += [f"{w}\tk{labels[i]}" for i, w in enumerate(words)]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(docs)} texts, vocabulary {v}, kept {len(words)}, {k} concepts -> {args.out}")
    groups: dict[int, list[str]] = {}
    for w, lab in zip(words, labels, strict=True):
        groups.setdefault(int(lab), []).append(w)
    for lab in list(groups)[:12]:
        print(f"  k{lab}: {' '.join(groups[lab][:12])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
