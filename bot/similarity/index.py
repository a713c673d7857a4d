"""Inverted index and 0–100 score for near-duplicate innovation ideas.

Scoring model
-------------
Each document has a *name* and a *description*, normalised separately
(:mod:`bot.similarity.normalize`). A field becomes a TF-IDF vector: weight
``(1 + ln tf) * idf * boilerplate_factor``, where ``idf`` comes from the whole corpus, so
words every entry shares ("pelayanan", an agency type) count for little.

Each field vector is unit-normalised on its own, so a long description cannot drown a
telling name, and the document vector is ``a_name * name + a_desc * desc`` normalised
again. The dot product of two such vectors expands into name~name,
description~description and the two cross terms, so an acronym name ("SI-JEMPOL")
expanded in another entry's description still counts.

Plain cosine gives two thin award-list blurbs ("Inovasi Dinas Kesehatan Kota X 2021") a
perfect score because they are short, not because they describe the same idea. So each
vector is also multiplied by a *confidence* ``min(1, info / floor)``, where ``info`` is
the norm of the document's raw weights: a text must carry enough rare, idea-bearing words
before it can score high. The floor is a multiple of the weight of a term seen in one
document, so it scales with the corpus. The score is ``100 * min(1, v_q·v_c)``.

Search
------
Postings hold each document's final weight per term, sorted by slot. Since the score is
a sum of per-term contributions, a query term can add at most ``q_t * max_weight(t)``;
terms whose bounds together stay below the threshold ("non-essential", usually the
common words) are never scanned, they are only looked up for documents found through
the rare terms (MaxScore). Results above the threshold are therefore exactly those of
scoring every document (see :meth:`SimilarityIndex.search_exhaustive`).

IDF changes as ideas are added. Weights use a snapshot of the document frequencies that
is refreshed once the corpus has drifted by 10% (or 32 edits on small corpora); until
then new documents are weighted with the snapshot, and a term unknown to the snapshot is
treated as rare. Both the indexed and the exhaustive search read the same state.
"""

from __future__ import annotations

import asyncio
import math
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.similarity.normalize import Normalizer
from handlers.ports import SimilarityService, SimilarMatch

DEFAULT_THRESHOLD = 28.0


@dataclass(frozen=True)
class ScoringParams:
    """Knobs of the score; defaults chosen on the development set (see bench/)."""

    # Names are short and often acronyms that differ between regions for the same
    # service, so they count for less than the description (cross terms still let a
    # name that is spelled out in another entry's description match).
    name_weight: float = 0.25
    desc_weight: float = 1.0
    # Information a document needs before it can score fully, in units of the idf of
    # a term seen in one document.
    info_floor: float = 2.2
    confidence_power: float = 1.0
    # Show a runner-up only when it scores at least this share of the best match: a
    # clear winner followed by topic neighbours is the usual way suggestions cry wolf.
    relative_cut: float = 0.8


@dataclass(frozen=True)
class Explanation:
    """Per-field view of one match, for reports (not used for ranking)."""

    name_name: float
    desc_desc: float
    name_desc: float
    desc_name: float
    shared: tuple[str, ...]

    @property
    def fields(self) -> str:
        """Which field pairs contributed, e.g. ``"name+desc"``."""
        parts = []
        if self.name_name >= 0.2:
            parts.append("name")
        if self.desc_desc >= 0.2:
            parts.append("desc")
        if max(self.name_desc, self.desc_name) >= 0.2:
            parts.append("cross")
        return "+".join(parts) or "weak"


def _pack(name: Counter[int], desc: Counter[int]) -> array[int]:
    """Compact per-document record: [n_name, ids..., tfs..., ids..., tfs...]."""
    rec = array("i", [len(name)])
    rec.extend(name.keys())
    rec.extend(name.values())
    rec.extend(desc.keys())
    rec.extend(desc.values())
    return rec


def _unpack(rec: array[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    n = rec[0]
    name = list(zip(rec[1 : 1 + n], rec[1 + n : 1 + 2 * n], strict=True))
    rest = rec[1 + 2 * n :]
    m = len(rest) // 2
    desc = list(zip(rest[:m], rest[m:], strict=True))
    return name, desc


class SimilarityIndex:
    """Near-duplicate search over ideas and directory entries (``SimilarityService``)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        normalizer: Normalizer | None = None,
        params: ScoringParams | None = None,
    ) -> None:
        self.threshold = threshold
        self.normalizer = normalizer if normalizer is not None else Normalizer()
        self.params = params if params is not None else ScoringParams()
        self._lock = threading.RLock()
        self._clear()

    # -- state -----------------------------------------------------------------------

    def _clear(self) -> None:
        self._term_ids: dict[str, int] = {}
        self._terms: list[str] = []
        self._bf: list[float] = []
        self._df: list[int] = []
        self._idf: list[float] = []
        self._post_docs: list[array[int]] = []
        self._post_w: list[array[float]] = []
        self._max_w: list[float] = []
        self._slots: dict[str, int] = {}
        self._slot_ids: list[str | None] = []
        self._records: list[array[int] | None] = []
        self._snap_n = 0
        self._changes = 0
        self._rare_idf = 1.0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slots

    def _term_id(self, term: str) -> int:
        tid = self._term_ids.get(term)
        if tid is None:
            tid = len(self._terms)
            self._term_ids[term] = tid
            self._terms.append(term)
            self._bf.append(self.normalizer.term_factor(term))
            self._df.append(0)
            self._idf.append(-1.0)  # unknown to the snapshot: weighted as rare
            self._post_docs.append(array("i"))
            self._post_w.append(array("f"))
            self._max_w.append(0.0)
        return tid

    def _idf_of(self, tid: int) -> float:
        idf = self._idf[tid]
        return self._rare_idf if idf < 0 else idf

    def _snapshot(self) -> None:
        """Freeze IDF from the current document frequencies (BM25-style smoothing)."""
        n = len(self._slots)
        self._snap_n = n
        self._changes = 0
        self._rare_idf = math.log(1.0 + (n + 0.5) / 0.5)
        self._idf = [
            math.log(1.0 + (n - df + 0.5) / (df + 0.5)) if df > 0 else -1.0 for df in self._df
        ]

    # -- weighting -------------------------------------------------------------------

    def _field_weights(self, items: Iterable[tuple[int, int]]) -> dict[int, float]:
        """Raw TF-IDF weights of one field, boilerplate scaled down."""
        return {
            tid: (1.0 + math.log(tf)) * self._idf_of(tid) * self._bf[tid] for tid, tf in items
        }

    def _info_floor(self) -> float:
        # The idf of a term found in a single document: the floor means "roughly this
        # many distinctive words' worth of content" whatever the corpus size.
        n = max(self._snap_n, 1)
        return self.params.info_floor * math.log(1.0 + (n - 0.5) / 1.5)

    def _vector(
        self, name: Iterable[tuple[int, int]], desc: Iterable[tuple[int, int]]
    ) -> dict[int, float]:
        """Combined document vector from (term id, tf) pairs of both fields.

        Each field is unit-normalised on its own so a long description cannot drown a
        telling name; the weighted sum is unit-normalised again (so identical texts
        score 1) and then shrunk by the document's confidence: its information
        content (norm of all its raw weights) over the floor, capped at 1.
        """
        p = self.params
        nv = self._field_weights(name)
        dv = self._field_weights(desc)
        n_norm = math.sqrt(sum(w * w for w in nv.values()))
        d_norm = math.sqrt(sum(w * w for w in dv.values()))
        a_n = p.name_weight / n_norm if n_norm > 0 else 0.0
        a_d = p.desc_weight / d_norm if d_norm > 0 else 0.0
        vec: dict[int, float] = {}
        for tid, w in nv.items():
            vec[tid] = a_n * w
        for tid, w in dv.items():
            vec[tid] = vec.get(tid, 0.0) + a_d * w
        norm = math.sqrt(sum(w * w for w in vec.values()))
        if norm == 0:
            return {}
        merged: dict[int, float] = dict(nv)
        for tid, w in dv.items():
            if w > merged.get(tid, 0.0):
                merged[tid] = w
        info = math.sqrt(sum(w * w for w in merged.values()))
        confidence = min(1.0, info / self._info_floor()) ** p.confidence_power
        scale = confidence / norm
        return {tid: w * scale for tid, w in vec.items()}

    def _query_vector(self, name: str, description: str) -> dict[int, float]:
        """Query vector over known term ids; unknown terms only enlarge the norm."""
        norm = self.normalizer
        # Unknown terms get negative placeholder ids so they count in the field norms
        # (a query full of words no idea uses is less similar) but never match.
        fake: dict[str, int] = {}

        def ids(text: str) -> Counter[int]:
            out: Counter[int] = Counter()
            for term in norm.terms(text):
                tid = self._term_ids.get(term)
                if tid is None:
                    tid = fake.setdefault(term, -1 - len(fake))
                out[tid] += 1
            return out

        name_c, desc_c = ids(name), ids(description)
        # Temporarily describe the placeholders to the weighting code.
        saved = len(self._bf)
        placeholders = sorted(fake.items(), key=lambda kv: kv[1])
        try:
            for term, _ in placeholders:
                self._bf.append(norm.term_factor(term))
                self._idf.append(-1.0)
            # Negative ids index from the end: -1 is the last appended placeholder.
            vec = self._vector(name_c.items(), desc_c.items())
        finally:
            del self._bf[saved:]
            del self._idf[saved:]
        return {tid: w for tid, w in vec.items() if tid >= 0}

    # -- mutation --------------------------------------------------------------------

    def _insert(self, doc_id: str, name: str, description: str) -> None:
        norm = self.normalizer
        name_c = Counter(self._term_id(t) for t in norm.terms(name))
        desc_c = Counter(self._term_id(t) for t in norm.terms(description))
        slot = len(self._slot_ids)
        self._slots[doc_id] = slot
        self._slot_ids.append(doc_id)
        self._records.append(_pack(name_c, desc_c))
        for tid in set(name_c) | set(desc_c):
            self._df[tid] += 1
        self._post(slot, self._vector(name_c.items(), desc_c.items()))

    def _post(self, slot: int, vec: dict[int, float]) -> None:
        for tid, w in vec.items():
            self._post_docs[tid].append(slot)
            self._post_w[tid].append(w)
            if w > self._max_w[tid]:
                self._max_w[tid] = w

    def _delete(self, doc_id: str) -> None:
        slot = self._slots.pop(doc_id)
        rec = self._records[slot]
        self._records[slot] = None
        self._slot_ids[slot] = None
        if rec is None:
            return
        name, desc = _unpack(rec)
        for tid in {t for t, _ in name} | {t for t, _ in desc}:
            self._df[tid] -= 1
            docs = self._post_docs[tid]
            i = bisect_left(docs, slot)
            if i < len(docs) and docs[i] == slot:
                del docs[i]
                del self._post_w[tid][i]
        # max_w may now overestimate; an upper bound stays correct.

    def upsert(self, doc_id: str, name: str, description: str) -> None:
        """Add or replace a document; searchable as soon as this returns."""
        with self._lock:
            if doc_id in self._slots:
                self._delete(doc_id)
            self._insert(doc_id, name, description)
            self._changes += 1

    def remove(self, doc_id: str) -> None:
        """Drop a document (e.g. merged into another idea); unknown ids are ignored."""
        with self._lock:
            if doc_id in self._slots:
                self._delete(doc_id)
                self._changes += 1

    def rebuild(self, docs: Iterable[tuple[str, str, str]]) -> None:
        """Replace the whole index with ``(doc_id, name, description)`` rows."""
        with self._lock:
            self._clear()
            norm = self.normalizer
            term_id = self._term_id
            for doc_id, name, description in docs:
                name_c = Counter(term_id(t) for t in norm.terms(name))
                desc_c = Counter(term_id(t) for t in norm.terms(description))
                if doc_id in self._slots:  # later rows win, like repeated upserts
                    old = self._slots[doc_id]
                    self._records[old] = None
                    self._slot_ids[old] = None
                self._slots[doc_id] = len(self._slot_ids)
                self._slot_ids.append(doc_id)
                self._records.append(_pack(name_c, desc_c))
            self._reweight()

    def _reweight(self) -> None:
        """Recount document frequencies, take a new IDF snapshot, rewrite postings."""
        live = [(slot, rec) for slot, rec in enumerate(self._records) if rec is not None]
        # Compact slots so postings stay short and sorted.
        self._slot_ids = [self._slot_ids[slot] for slot, _ in live]
        self._records = [rec for _, rec in live]
        self._slots = {doc_id: i for i, doc_id in enumerate(self._slot_ids) if doc_id}
        df = [0] * len(self._terms)
        unpacked = []
        for rec in self._records:
            assert rec is not None
            name, desc = _unpack(rec)
            unpacked.append((name, desc))
            for tid in {t for t, _ in name} | {t for t, _ in desc}:
                df[tid] += 1
        self._df = df
        self._snapshot()
        self._post_docs = [array("i") for _ in self._terms]
        self._post_w = [array("f") for _ in self._terms]
        self._max_w = [0.0] * len(self._terms)
        for slot, (name, desc) in enumerate(unpacked):
            self._post(slot, self._vector(name, desc))

    def _maybe_refresh(self) -> None:
        # Small corpora are cheap to reweight and their IDF moves a lot with each idea;
        # large ones wait until 10% of the corpus has changed.
        if self._changes > 0 and (self._snap_n < 500 or self._changes > self._snap_n // 10):
            self._reweight()

    # -- search ----------------------------------------------------------------------

    def _finish(
        self, scores: dict[int, float], limit: int, exclude: Sequence[str]
    ) -> list[SimilarMatch]:
        cut = self.threshold / 100.0
        excluded = {self._slots[d] for d in exclude if d in self._slots}
        hits = [(s, slot) for slot, s in scores.items() if s >= cut and slot not in excluded]
        # Ties broken by doc id so both search paths order results identically.
        hits.sort(key=lambda h: (-h[0], self._slot_ids[h[1]] or ""))
        if hits:
            floor = hits[0][0] * self.params.relative_cut
            hits = [h for h in hits if h[0] >= floor]
        return [
            SimilarMatch(doc_id=self._slot_ids[slot] or "", score=round(100.0 * min(1.0, s), 2))
            for s, slot in hits[: max(0, limit)]
        ]

    def search_sync(
        self, name: str, description: str, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[SimilarMatch]:
        """Best matches above ``threshold``, best first, at most ``limit`` (blocking)."""
        with self._lock:
            self._maybe_refresh()
            q = self._query_vector(name, description)
            if not q or limit <= 0:
                return []
            cut = self.threshold / 100.0
            # MaxScore: order terms by their best possible contribution.
            bounds = sorted(((w * self._max_w[t], t, w) for t, w in q.items()), reverse=False)
            total = sum(b for b, _, _ in bounds)
            if total < cut:
                return []  # nothing can clear the threshold: stay quiet, fast
            # Non-essential prefix: together they cannot reach the threshold alone.
            running = 0.0
            split = 0
            for i, (b, _, _) in enumerate(bounds):
                if running + b >= cut:
                    split = i
                    break
                running += b
            nonessential = bounds[:split]
            essential = bounds[split:]
            acc: dict[int, float] = {}
            get = acc.get
            for _, t, w in essential:
                for slot, dw in zip(self._post_docs[t], self._post_w[t], strict=True):
                    acc[slot] = get(slot, 0.0) + w * dw
            # Add the cheap terms only where they can still matter, highest bound first.
            remaining = running
            for b, t, w in reversed(nonessential):
                docs = self._post_docs[t]
                weights = self._post_w[t]
                floor = cut - remaining
                n = len(docs)
                for slot in [s for s, v in acc.items() if v >= floor]:
                    i = bisect_left(docs, slot)
                    if i < n and docs[i] == slot:
                        acc[slot] += w * weights[i]
                remaining -= b
            return self._finish({s: v for s, v in acc.items() if v >= cut}, limit, exclude)

    def search_exhaustive(
        self, name: str, description: str, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[SimilarMatch]:
        """Reference search that scores every document (for tests and benchmarks)."""
        with self._lock:
            self._maybe_refresh()
            q = self._query_vector(name, description)
            scores: dict[int, float] = {}
            for slot, rec in enumerate(self._records):
                if rec is None:
                    continue
                n, d = _unpack(rec)
                vec = self._vector(n, d)
                # Round through float32 like the postings do.
                stored = array("f", vec.values())
                scores[slot] = sum(
                    q.get(t, 0.0) * w for t, w in zip(vec.keys(), stored, strict=True)
                )
            return self._finish(scores, limit, exclude)

    async def search(
        self, name: str, description: str, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[SimilarMatch]:
        """Like :meth:`search_sync`, run in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.search_sync, name, description, limit, exclude)

    # -- reporting -------------------------------------------------------------------

    def explain(self, name: str, description: str, doc_id: str) -> Explanation | None:
        """Per-field cosines and the strongest shared terms between a query and a doc."""
        with self._lock:
            slot = self._slots.get(doc_id)
            rec = self._records[slot] if slot is not None else None
            if rec is None:
                return None
            cn, cd = _unpack(rec)
            known = self._term_ids

            def field(text: str) -> list[tuple[int, int]]:
                c = Counter(known[t] for t in self.normalizer.terms(text) if t in known)
                return list(c.items())

            def unit(items: Iterable[tuple[int, int]]) -> dict[int, float]:
                w = self._field_weights(items)
                norm = math.sqrt(sum(x * x for x in w.values())) or 1.0
                return {t: x / norm for t, x in w.items()}

            qn, qd = unit(field(name)), unit(field(description))
            dn, dd = unit(cn), unit(cd)

            def dot(a: dict[int, float], b: dict[int, float]) -> float:
                return sum(w * b.get(t, 0.0) for t, w in a.items())

            q_all = Counter(qn) + Counter(qd)
            c_all = Counter(dn) + Counter(dd)
            shared = sorted(
                (t for t in q_all if t in c_all), key=lambda t: -(q_all[t] * c_all[t])
            )
            return Explanation(
                name_name=dot(qn, dn),
                desc_desc=dot(qd, dd),
                name_desc=dot(qn, dd),
                desc_name=dot(qd, dn),
                shared=tuple(self._terms[t] for t in shared[:5]),
            )


def _conforms(index: SimilarityIndex) -> SimilarityService:
    """Never called: makes mypy prove the index satisfies the conversations' port."""
    return index
