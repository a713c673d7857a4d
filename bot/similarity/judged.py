"""Real innovation entries with hand-judged groups, and their scoring rules.

The format is the one of ``../shared/data/`` (see its README): an entries TSV (``row``,
``name``, ``description``, ``region``, ``agency``, ``source_url``; read with
``QUOTE_NONE`` and ``\\`` as escape) and a groups TSV (``group_id``, ``title``, ``rows``,
``strength``). Unlike the project's own devset, groups here overlap and have strengths,
so a pair of rows is *positive*, *don't care* or *negative*:

* positive: both in one group of strength very strong, strong or medium-strong, or
  both among the strong rows of a ``mixed: …`` group, or a ``P`` pair;
* don't care: they share only a medium or weak group (or the medium part of a mixed
  one), or sit in two groups that overlap;
* negative: otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.similarity.corpus import CorpusError
from bot.similarity.evaluate import Metrics

STRONG = frozenset({"very strong", "strong", "medium-strong"})
_MIXED = re.compile(r"mixed:\s*([\d,\s]+?)\s+strong", re.IGNORECASE)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise CorpusError(f"{path}: file not found")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        return [{k: (v or "").strip() for k, v in r.items() if k} for r in reader]


def _ints(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


@dataclass(frozen=True)
class JudgedSet:
    """Entries (``id`` is the row number as text) and the judged pair labels."""

    rows: list[dict[str, str]]
    positive: frozenset[frozenset[str]]
    related: frozenset[frozenset[str]]  # "don't care" pairs that are not positive
    grouped: frozenset[str]  # rows in any group at all

    def label(self, a: str, b: str) -> int:
        """1 positive, 0 don't care, -1 negative."""
        pair = frozenset((a, b))
        if pair in self.positive:
            return 1
        if pair in self.related:
            return 0
        return -1

    def subset(self, ids: Iterable[str]) -> JudgedSet:
        """The same judgements restricted to some entries (a tune or held-out part)."""
        keep = set(ids)

        def inside(pairs: frozenset[frozenset[str]]) -> frozenset[frozenset[str]]:
            return frozenset(p for p in pairs if p <= keep)

        pos = inside(self.positive)
        rel = inside(self.related)
        # A row whose only group partners were cut away is still "in a group": it was
        # judged to have a related entry, so showing nothing is not counted as quiet.
        return JudgedSet(
            rows=[r for r in self.rows if r["id"] in keep],
            positive=pos,
            related=rel,
            grouped=frozenset(self.grouped & keep),
        )


def load_judged(entries: str | Path, groups: str | Path) -> JudgedSet:
    """Read an entries TSV and its groups TSV (formats above)."""
    rows = _read_tsv(Path(entries))
    for r in rows:
        r["id"] = r.get("row", "")
        if not r["id"]:
            raise CorpusError(f"{entries}: a row without a 'row' number")
    ids = {r["id"] for r in rows}
    positive: set[frozenset[str]] = set()
    touched: dict[frozenset[str], int] = {}  # pair -> number of groups holding it
    members: dict[str, set[str]] = {}
    grouped: set[str] = set()
    for g in _read_tsv(Path(groups)):
        gid, strength = g.get("group_id", ""), g.get("strength", "").lower()
        rows_in = _ints(g.get("rows", ""))
        unknown = [x for x in rows_in if x not in ids]
        if unknown:
            raise CorpusError(f"{groups}: group {gid} names unknown rows {unknown}")
        members[gid] = set(rows_in)
        grouped.update(rows_in)
        strong_rows: set[str]
        if gid.startswith("P") or strength in STRONG:
            strong_rows = set(rows_in)
        elif m := _MIXED.match(strength):
            strong_rows = set(_ints(m.group(1)))
        else:
            strong_rows = set()
        for i, a in enumerate(rows_in):
            for b in rows_in[i + 1 :]:
                pair = frozenset((a, b))
                touched[pair] = touched.get(pair, 0) + 1
                if a in strong_rows and b in strong_rows:
                    positive.add(pair)
    # Rows in two groups that overlap: any pair across the two is "don't care" unless
    # some group makes it positive.
    related = set(touched)
    gids = list(members)
    for i, g1 in enumerate(gids):
        for g2 in gids[i + 1 :]:
            if members[g1] & members[g2]:
                for a in members[g1]:
                    for b in members[g2]:
                        if a != b:
                            related.add(frozenset((a, b)))
    return JudgedSet(
        rows=rows,
        positive=frozenset(positive),
        related=frozenset(related - positive),
        grouped=frozenset(grouped),
    )


def evaluate_judged(shown: Mapping[str, Sequence[str]], judged: JudgedSet) -> Metrics:
    """Precision, recall (hit@3) and quiet of ``shown[query] -> [ids]`` by the rules
    of ``../shared/data/README.md``."""
    has_partner: set[str] = set()
    for pair in judged.positive:
        has_partner.update(pair)
    good = counted = hit = partnered = silent = lonely = total = 0
    for r in judged.rows:
        q = r["id"]
        matches = list(shown.get(q, ()))
        total += len(matches)
        labels = [judged.label(q, m) for m in matches]
        good += labels.count(1)
        counted += labels.count(1) + labels.count(-1)
        if q in has_partner:
            partnered += 1
            hit += 1 in labels
        if q not in judged.grouped:
            lonely += 1
            silent += not matches
    return Metrics(
        precision=good / counted if counted else 1.0,
        recall=hit / partnered if partnered else 1.0,
        quiet=silent / lonely if lonely else 1.0,
        shown=total,
        with_partner=partnered,
        without_partner=lonely,
    )


def split_of(row: Mapping[str, str]) -> str:
    """``"tune"`` or ``"held-out"``: fixed before any tuning, by a hash of the entry's
    normalised source address, so all entries from one page fall on the same side (a
    page's wording cannot leak from the tune part into the held-out part)."""
    key = re.sub(r"^https?://(www\.)?", "", row.get("source_url", "").strip().lower())
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "held-out" if digest[0] % 3 == 0 else "tune"
