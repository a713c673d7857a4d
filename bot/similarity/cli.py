"""``python -m bot dedup-check``: near-duplicate report for a directory of innovations.

Without ``--queries`` every corpus entry is checked against all the others (near-duplicates
inside last year's directory); with it, each query row is checked against the corpus.
Output is TSV on stdout, one row per match shown, exactly what a submitter would see:
queries with no match produce no row. A one-line summary goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.similarity.corpus import REQUIRED_COLUMNS, CorpusError, load_table
from bot.similarity.index import SimilarityIndex


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot dedup-check",
        description=(
            "Show, for each innovation, the existing ones a submitter would be warned "
            "about. Files are CSV, TSV or XLSX with 'name' and 'description' columns; "
            "other columns are carried into the report."
        ),
    )
    parser.add_argument("--corpus", required=True, help="existing innovations (CSV/TSV/XLSX)")
    parser.add_argument(
        "--queries", help="new innovations to check; default: check the corpus against itself"
    )
    parser.add_argument("--limit", type=int, default=3, help="matches shown per query (default 3)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="minimum score 0-100 (default: the engine's own threshold)",
    )
    return parser


def _extra_columns(rows: Sequence[dict[str, str]]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        for key in row:
            if key not in REQUIRED_COLUMNS and key not in seen:
                seen.append(key)
    return seen


def run(
    corpus: Sequence[dict[str, str]],
    queries: Sequence[dict[str, str]] | None,
    limit: int,
    out: TextIO,
    threshold: float | None = None,
) -> tuple[int, int]:
    """Write the report; returns (queries checked, queries shown at least one match)."""
    index = SimilarityIndex() if threshold is None else SimilarityIndex(threshold=threshold)
    index.rebuild(
        (f"dir:{i}", row.get("name", ""), row.get("description", ""))
        for i, row in enumerate(corpus)
    )
    self_check = queries is None
    qrows = corpus if queries is None else queries
    q_extra = _extra_columns(qrows)
    c_extra = _extra_columns(corpus)
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(
        ["query_name", "match_name", "score", "fields", "shared_terms", "query_row", "match_row"]
        + [f"query_{c}" for c in q_extra]
        + [f"match_{c}" for c in c_extra]
    )
    warned = 0
    for qi, q in enumerate(qrows):
        name, desc = q.get("name", ""), q.get("description", "")
        exclude = [f"dir:{qi}"] if self_check else []
        matches = index.search_sync(name, desc, limit=limit, exclude=exclude)
        warned += bool(matches)
        for m in matches:
            ci = int(m.doc_id.split(":", 1)[1])
            c = corpus[ci]
            why = index.explain(name, desc, m.doc_id)
            writer.writerow(
                [
                    name,
                    c.get("name", ""),
                    f"{m.score:.1f}",
                    why.fields if why else "",
                    ",".join(why.shared) if why else "",
                    qi + 2,  # spreadsheet row number: header is row 1
                    ci + 2,
                ]
                + [" ".join(q.get(col, "").split()) for col in q_extra]
                + [" ".join(c.get(col, "").split()) for col in c_extra]
            )
    return len(qrows), warned


def main(argv: list[str]) -> int:
    """Entry point; returns the process exit code (2 on bad arguments or files)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.threshold is not None and not 0 <= args.threshold <= 100:
        parser.error("--threshold must be between 0 and 100")
    try:
        corpus = load_table(args.corpus)
        queries = load_table(args.queries) if args.queries else None
    except CorpusError as exc:
        print(f"dedup-check: {exc}", file=sys.stderr)
        return 2
    try:
        checked, warned = run(corpus, queries, args.limit, sys.stdout, args.threshold)
    except BrokenPipeError:
        # `dedup-check ... | head` closed the pipe: not an error of the check itself.
        return 0
    print(
        f"dedup-check: {checked} queries checked against {len(corpus)} entries; "
        f"{warned} would be shown at least one similar idea",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
