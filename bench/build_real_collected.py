"""Compile the collected real entries from their batch files into the judged-set format.

Usage: .venv/bin/python bench/build_real_collected.py [--check]

Source files live in ``tests/data/real/sources/``:

* ``entries_NN.tsv``: ``name``, ``description``, ``region``, ``agency``, ``source_url``,
  ``tags`` (comma-separated group tags; ``tag!`` marks a strong member of a ``mixed`` group);
* ``groups.tsv``: ``tag``, ``title``, ``strength`` (``mixed`` groups get their strong rows
  from the ``!`` marks; a tag starting with ``P`` is a pair a source states is the same).

Writes ``real_innovations_collected.tsv`` and ``_groups.tsv`` beside the folder (the format
of ``../shared/data/README.md``). Batches are appended in file order, so row numbers of
earlier batches never move. Entries whose address or name is already in the shared set
or in an earlier batch are refused, so no entry shapes two sets.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "real"
SOURCES = REAL / "sources"
SHARED = ROOT.parent / "shared" / "data" / "real_innovations_dev.tsv"
FIELDS = ["name", "description", "region", "agency", "source_url"]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        return [{k: (v or "").strip() for k, v in r.items() if k} for r in reader]


def url_key(url: str) -> str:
    return re.sub(r"^https?://(www\.)?", "", url.strip().lower()).rstrip("/")


def name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only validate, write nothing")
    args = parser.parse_args()
    problems: list[str] = []
    seen_names: set[str] = set()
    shared_urls: set[str] = set()
    if SHARED.is_file():
        for r in read(SHARED):
            seen_names.add(name_key(r["name"]))
            shared_urls.add(url_key(r["source_url"]))
    groups = {g["tag"]: g for g in read(SOURCES / "groups.tsv")}
    members: dict[str, list[str]] = {t: [] for t in groups}
    strong: dict[str, list[str]] = {t: [] for t in groups}
    out: list[dict[str, str]] = []
    for path in sorted(SOURCES.glob("entries_*.tsv")):
        for r in read(path):
            row = str(len(out) + 1)
            where = f"{path.name}: {r['name']!r}"
            if not r.get("source_url", "").startswith("http"):
                problems.append(f"{where}: no source address")
            if url_key(r["source_url"]) in shared_urls:
                problems.append(f"{where}: address already in the shared set")
            if name_key(r["name"]) in seen_names:
                problems.append(f"{where}: name already seen")
            seen_names.add(name_key(r["name"]))
            for tag in filter(None, (t.strip() for t in r.get("tags", "").split(","))):
                bare = tag.rstrip("!")
                if bare not in groups:
                    problems.append(f"{where}: unknown tag {bare}")
                    continue
                members[bare].append(row)
                if tag.endswith("!"):
                    strong[bare].append(row)
            out.append({"row": row, **{k: r.get(k, "") for k in FIELDS}})
    lines: list[list[str]] = []
    g_no = p_no = 0
    for tag, g in groups.items():
        rows = members[tag]
        if len(rows) < 2:
            problems.append(f"group {tag}: fewer than two rows {rows}")
            continue
        strength = g["strength"]
        if strength == "mixed":
            if not strong[tag]:
                problems.append(f"group {tag}: mixed without strong (!) rows")
            strength = f"mixed: {','.join(strong[tag])} strong, the rest medium"
        if tag.startswith("P"):
            p_no += 1
            gid = f"P{p_no}"
        else:
            g_no += 1
            gid = f"G{g_no}"
        lines.append([gid, g["title"], ",".join(rows), strength])
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(out)} entries, {len(lines)} groups, {len(problems)} problems")
    if problems or args.check:
        return 1 if problems else 0
    kw = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "escapechar": "\\", "lineterminator": "\n"}
    with (REAL / "real_innovations_collected.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, **kw)
        w.writerow(["row", *FIELDS])
        for r in out:
            w.writerow([r["row"], *(r[k] for k in FIELDS)])
    with (REAL / "real_innovations_collected_groups.tsv").open(
        "w", encoding="utf-8", newline=""
    ) as f:
        w = csv.writer(f, **kw)
        w.writerow(["group_id", "title", "rows", "strength"])
        w.writerows(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
