"""Inverted index and 0–100 score for near-duplicate innovation ideas.

Scoring model
-------------
Each document has a *name* and a *description*, normalised separately
(:mod:`bot.similarity.normalize`). A field becomes a TF-IDF vector: weight
``(1 + ln tf) * idf * boilerplate_factor``, where ``idf`` comes from the whole corpus, so
words every entry shares ("pelayanan", an agency type) count for little. The description
also carries the learned concept tokens of the document's terms
(:mod:`bot.similarity.semantic`) at a fraction of a word's weight, so different words for
one thing still meet; they are ordinary terms for everything below.

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
document, so it scales with the corpus. The score is ``100 * min(1, v_q·v_c)``. A match
is shown only if the two texts share at least ``min_shared`` distinct full-weight words
(boilerplate and learned concept tokens do not count), so two thin entries that have one
rare word in common stay apart.

Search
------
Postings hold each document's final weight per term (``array`` of slots, sorted, and of
float32 weights). Since the score is a sum of per-term contributions, a query term can
add at most ``q_t * max_weight(t)``; terms whose bounds together stay below the
threshold ("non-essential", usually the common words) are never scanned, they are only
looked up (binary search) for the documents found through the rare terms (MaxScore).
Results above the threshold are therefore exactly those of scoring every document (see
:meth:`SimilarityIndex.search_exhaustive`). Postings are summed with numpy, so a search
of 100,000 ideas takes a few milliseconds; ``search`` runs it in a worker thread.

Building
--------
``rebuild`` reads every row, stems each new word once (on two cores when there are many,
see :mod:`bot.similarity.parallel`) and normalises the texts a batch at a time
(:mod:`bot.similarity.bulk`); then it computes document frequencies, IDF and all weights
in numpy batches of ``_CHUNK`` documents, writing each term's postings straight to their
place. An upsert computes the same weights for one document in plain Python.

IDF changes as ideas are added. Weights use a snapshot of the document frequencies that
is refreshed once the corpus has drifted by 10% (or 32 edits on small corpora); until
then new documents are weighted with the snapshot, and a term unknown to the snapshot is
treated as rare. Both the indexed and the exhaustive search read the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import threading
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.similarity.normalize import Normalizer
from bot.similarity.parallel import read_and_stem
from bot.similarity.semantic import SemanticConcepts
from handlers.ports import SimilarityService, SimilarMatch

DEFAULT_THRESHOLD = 23.0
# Documents per numpy batch when (re)building postings: bounds the temporary arrays (a
# few MB each), so the peak of a rebuild stays near the size of the index itself.
# Postings are placed by document frequency, so smaller batches cost almost no time.
_CHUNK = 4_096


def _log_tf(tf: int) -> float:
    return 1.0 + math.log(tf)


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
    info_floor: float = 3.0
    confidence_power: float = 1.0
    # Show a runner-up only when it scores at least this share of the best match: a
    # clear winner followed by topic neighbours is the usual way suggestions cry wolf.
    relative_cut: float = 0.8
    # A match must share at least this many distinct full-weight words (not boilerplate,
    # not learned concepts; a lexicon concept counts as one word): on real directories
    # one rare word shared by two thin entries ("izin", "bakar") scored above the
    # threshold and made the check cry wolf.
    min_shared: int = 2


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


class _TermIds(dict[str, int]):
    """Term -> id; a miss registers the term, so ``map(ids.__getitem__, terms)`` stays
    in C for known terms. ``.get`` never registers (queries must not grow the index)."""

    def __init__(self, new_term: Callable[[str], int]) -> None:
        super().__init__()
        self._new_term = new_term

    def __missing__(self, term: str) -> int:
        tid = self._new_term(term)
        self[term] = tid
        return tid


def _record(name_ids: Iterable[int], desc_ids: Iterable[int]) -> array[int]:
    """Compact per-document record: ``[len(name), name term ids..., desc term ids...]``,
    in text order with repeats (term frequencies are counted when weighting)."""
    rec = array("i", [0])
    rec.extend(name_ids)
    rec[0] = len(rec) - 1
    rec.extend(desc_ids)
    return rec


def _unpack(rec: array[int]) -> tuple[array[int], array[int]]:
    """(name term ids, description term ids) of a record."""
    n = rec[0]
    return rec[1 : 1 + n], rec[1 + n :]


class SimilarityIndex:
    """Near-duplicate search over ideas and directory entries (``SimilarityService``)."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        normalizer: Normalizer | None = None,
        params: ScoringParams | None = None,
        stem_cache: Path | None = None,
        semantic: SemanticConcepts | None = None,
    ) -> None:
        """``stem_cache``: optional file where stems are kept between restarts; PySastrawi
        costs ~0.6 ms per new word, so a cold rebuild of a large directory spends most of
        its time stemming words a previous run already stemmed.
        """
        self.threshold = threshold
        self.normalizer = normalizer if normalizer is not None else Normalizer()
        self.params = params if params is not None else ScoringParams()
        # Learned concepts (bot/similarity/semantic.py), added to each description.
        self.semantic = semantic if semantic is not None else SemanticConcepts()
        self._stem_cache_path = stem_cache
        if stem_cache is not None:
            self.normalizer.load_stems(stem_cache)
        self._lock = threading.RLock()
        self._clear()

    # -- state -----------------------------------------------------------------------

    def _clear(self) -> None:
        self._term_ids = _TermIds(self._new_term)
        self._terms: list[str] = []
        self._bf: list[float] = []
        self._df: list[int] = []
        self._tw: list[float] = []  # idf * term factor: what weighting multiplies tf by
        self._post_docs: list[array[int]] = []
        self._post_w: list[array[float]] = []
        self._max_w: list[float] = []
        self._slots: dict[str, int] = {}
        self._slot_ids: list[str | None] = []
        self._records: list[array[int] | None] = []
        self._concept_of: dict[int, int] = {}  # term id -> its concept's term id, or -1
        self._snap_n = 0
        self._changes = 0
        self._rare_idf = 1.0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slots

    def _new_term(self, term: str) -> int:
        """Register a term (called by ``_term_ids`` on a miss); returns its id."""
        tid = len(self._terms)
        self._terms.append(term)
        self._bf.append(self._term_factor(term))
        self._df.append(0)
        # Unknown to the IDF snapshot: weighted as a rare term until the next refresh.
        self._tw.append(self._rare_idf * self._bf[tid])
        self._post_docs.append(array("i"))
        self._post_w.append(array("f"))
        self._max_w.append(0.0)
        return tid

    def _term_factor(self, term: str) -> float:
        if SemanticConcepts.is_concept(term):
            return self.semantic.weight
        return self.normalizer.term_factor(term)

    def _concept_ids(self, rec: Iterable[int]) -> list[int]:
        """Term ids of the concept tokens of a record's terms (text order)."""
        return [cid for cid in map(self._concept_id, rec) if cid >= 0]

    def _concept_map(self, known: np.ndarray) -> np.ndarray:
        """``known`` extended to every current term id: term id -> concept term id, or
        -1 (the vectorised ``_concept_ids`` of a rebuild)."""
        n = len(self._terms)
        if len(known) >= n:
            return known
        extra = [cid if cid >= 0 else -1 for cid in map(self._concept_id, range(len(known), n))]
        # Registering concept terms added ids; they have no concept themselves.
        out = np.full(len(self._terms), -1, dtype=np.int32)
        out[: len(known)] = known
        out[len(known) : n] = extra
        return out

    def _concept_id(self, tid: int) -> int:
        cid = self._concept_of.get(tid)
        if cid is None:
            concept = self.semantic.concept(self._terms[tid])
            cid = self._term_ids[concept] if concept is not None else -1
            self._concept_of[tid] = cid
        return cid

    def _snapshot(self) -> None:
        """Freeze IDF from the current document frequencies (BM25-style smoothing)."""
        n = len(self._slots)
        self._snap_n = n
        self._changes = 0
        self._rare_idf = math.log(1.0 + (n + 0.5) / 0.5)
        df = np.asarray(self._df, dtype=np.float64)
        idf = np.where(df > 0, np.log(1.0 + (n - df + 0.5) / (df + 0.5)), self._rare_idf)
        self._tw = (idf * np.asarray(self._bf, dtype=np.float64)).tolist()

    # -- weighting -------------------------------------------------------------------

    def _info_floor(self) -> float:
        # The idf of a term found in a single document: the floor means "roughly this
        # many distinctive words' worth of content" whatever the corpus size.
        n = max(self._snap_n, 1)
        return self.params.info_floor * math.log(1.0 + (n - 0.5) / 1.5)

    def _field_weights(self, ids: Iterable[int]) -> dict[int, float]:
        """Raw TF-IDF weights of one field (boilerplate scaled down), by term id."""
        tw = self._tw
        return {tid: tw[tid] * _log_tf(tf) for tid, tf in Counter(ids).items()}

    def _combine(self, nv: dict[int, float], dv: dict[int, float]) -> dict[int, float]:
        """Document vector from the raw weights of its name and description.

        Each field is unit-normalised on its own so a long description cannot drown a
        telling name; the weighted sum is unit-normalised again (so identical texts
        score 1) and then shrunk by the document's confidence: its information
        content (norm of the union of its raw weights) over the floor, capped at 1.
        """
        p = self.params
        n2 = sum(w * w for w in nv.values())
        d2 = sum(w * w for w in dv.values())
        if n2 == 0 and d2 == 0:
            return {}
        overlap = 0.0  # a word in both fields counts once, at its larger weight
        for tid in nv.keys() & dv.keys():
            low = min(nv[tid], dv[tid])
            overlap += low * low
        info = math.sqrt(max(0.0, n2 + d2 - overlap))
        a_n = p.name_weight / math.sqrt(n2) if n2 > 0 else 0.0
        a_d = p.desc_weight / math.sqrt(d2) if d2 > 0 else 0.0
        vec = {tid: a_d * w for tid, w in dv.items()}
        for tid, w in nv.items():
            vec[tid] = vec.get(tid, 0.0) + a_n * w
        norm = math.sqrt(sum(w * w for w in vec.values()))
        if norm == 0:
            return {}
        scale = min(1.0, info / self._info_floor()) ** p.confidence_power / norm
        return {tid: w * scale for tid, w in vec.items()}

    def _doc_vector(self, rec: array[int]) -> dict[int, float]:
        """Final weights of a stored document, one document at a time (upserts and the
        exhaustive search; :meth:`_build_postings` computes the same for all at once)."""
        name_ids, desc_ids = _unpack(rec)
        return self._combine(self._field_weights(name_ids), self._field_weights(desc_ids))

    def _query_vector(self, name: str, description: str) -> dict[int, float]:
        """Query vector over known term ids; unknown terms only enlarge the norms.

        A query full of words no indexed idea uses is less similar to everything, so
        unknown terms keep their (rare) weight under negative placeholder ids.
        """
        norm = self.normalizer
        known = self._term_ids
        placeholder: dict[str, int] = {}

        def weights(terms: list[str]) -> dict[int, float]:
            out: dict[int, float] = {}
            for term, tf in Counter(terms).items():
                tid = known.get(term)
                if tid is None:
                    tid = placeholder.setdefault(term, -1 - len(placeholder))
                    base = self._rare_idf * self._term_factor(term)
                else:
                    base = self._tw[tid]
                out[tid] = base * _log_tf(tf)
            return out

        name_t, desc_t = norm.field_terms(name, description)
        desc_t += self.semantic.tokens(name_t + desc_t)
        vec = self._combine(weights(name_t), weights(desc_t))
        return {tid: w for tid, w in vec.items() if tid >= 0}

    # -- mutation --------------------------------------------------------------------

    def _insert(self, doc_id: str, name: str, description: str) -> None:
        term_id = self._term_ids.__getitem__
        name_t, desc_t = self.normalizer.field_terms(name, description)
        rec = _record(map(term_id, name_t), map(term_id, desc_t))
        if len(self.semantic):
            rec.extend(self._concept_ids(rec[1:]))
        slot = len(self._slot_ids)
        self._slots[doc_id] = slot
        self._slot_ids.append(doc_id)
        self._records.append(rec)
        for tid in set(rec[1:]):
            self._df[tid] += 1
        for tid, w in self._doc_vector(rec).items():
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
        for tid in set(rec[1:]):
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
        # Bulk building allocates millions of small objects and makes no cycles; the
        # cyclic garbage collector would otherwise rescan the growing heap many times.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            with self._lock:
                self._clear()
                doc_ids, encoder = read_and_stem(self.normalizer, docs)
                slots = self._slots
                slot_ids = self._slot_ids
                records = self._records
                with_concepts = len(self.semantic) > 0
                cmap = np.zeros(0, dtype=np.int32)
                row = 0
                for flat, lengths in encoder.records(self._term_ids.__getitem__):
                    block = array("i", flat.tobytes())
                    if with_concepts:
                        cmap = self._concept_map(cmap)
                        # Concept id of every slot of the block (headers are looked up
                        # too and skipped below); -1 where a term has no concept.
                        ext = np.take(cmap, np.asarray(flat, dtype=np.int64), mode="clip")
                    start = 0
                    for end in np.cumsum(lengths).tolist():
                        doc_id = doc_ids[row]
                        row += 1
                        if doc_id in slots:  # later rows win, like repeated upserts
                            records[slots[doc_id]] = None
                            slot_ids[slots[doc_id]] = None
                        slots[doc_id] = len(slot_ids)
                        slot_ids.append(doc_id)
                        rec = block[start:end]
                        if with_concepts:
                            c = ext[start + 1 : end]
                            rec.frombytes(c[c >= 0].tobytes())
                        records.append(rec)
                        start = end
                del doc_ids, encoder
                self._reweight()
                self.normalizer.trim()
        finally:
            if gc_was_enabled:
                gc.enable()
        if self._stem_cache_path is not None:
            # A cache that cannot be written only costs time at the next start.
            with contextlib.suppress(OSError):
                self.normalizer.save_stems(self._stem_cache_path)

    def _reweight(self) -> None:
        """Recount document frequencies, take a new IDF snapshot, rewrite postings."""
        live = [(slot, rec) for slot, rec in enumerate(self._records) if rec is not None]
        # Compact slots so postings stay short and sorted.
        self._slot_ids = [self._slot_ids[slot] for slot, _ in live]
        records = [rec for _, rec in live]
        del live
        compact: list[array[int] | None] = list(records)
        self._records = compact
        self._slots = {doc_id: i for i, doc_id in enumerate(self._slot_ids) if doc_id}
        n_terms = len(self._terms)
        span = max(n_terms, 1)
        df = np.zeros(n_terms, dtype=np.int64)
        for start in range(0, len(records), _CHUNK):
            doc, tid, _ = _tokens(records[start : start + _CHUNK])
            # Distinct (document, term) pairs. Sorted by hand: np.unique would hash them,
            # twenty times slower on this many distinct keys.
            pairs = np.sort(doc * span + tid)
            first = np.concatenate(([True], pairs[1:] != pairs[:-1]))
            df += np.bincount(pairs[first] % span, minlength=n_terms)
        self._df = df.tolist()
        self._snapshot()
        # Each document with a term gets exactly one posting, so df says where every
        # term's postings go: they are written straight into one array per kind, in slot
        # order since chunks come in slot order, and cut into per-term arrays at the end
        # (each allocated once, at its final size).
        ends = np.cumsum(df)
        starts = ends - df
        all_slots = np.empty(int(ends[-1]) if n_terms else 0, dtype=np.int32)
        all_w = np.empty(len(all_slots), dtype=np.float32)
        max_w = np.zeros(n_terms, dtype=np.float64)
        tw = np.asarray(self._tw, dtype=np.float64)
        fill = starts.copy()
        for start in range(0, len(records), _CHUNK):
            batch = _Batch(records[start : start + _CHUNK], start, n_terms)
            self._post_batch(batch, tw, fill, all_slots, all_w, max_w)
        del fill, tw, df
        self._max_w = max_w.tolist()
        slot_bytes = all_slots.data.cast("B")
        w_bytes = all_w.data.cast("B")
        self._post_docs = []
        self._post_w = []
        for a, e in zip((4 * starts).tolist(), (4 * ends).tolist(), strict=True):
            docs = array("i")
            docs.frombytes(slot_bytes[a:e])
            self._post_docs.append(docs)
            weights = array("f")
            weights.frombytes(w_bytes[a:e])
            self._post_w.append(weights)

    def _post_batch(
        self,
        b: _Batch,
        tw: np.ndarray,
        fill: np.ndarray,
        all_slots: np.ndarray,
        all_w: np.ndarray,
        max_w: np.ndarray,
    ) -> None:
        """Weights and postings of one batch, vectorised; same numbers as
        :meth:`_doc_vector` gives document by document. Postings are written at
        ``fill[term]`` (advanced past them), the best weight of each term into ``max_w``."""
        p = self.params
        n_docs = b.n_docs
        w = tw[b.tid] * (1.0 + np.log(b.tf))
        is_name = b.field == 0
        name_w = np.where(is_name, w, 0.0)
        desc_w = np.where(is_name, 0.0, w)
        n2 = np.bincount(b.doc, weights=name_w * name_w, minlength=n_docs)
        d2 = np.bincount(b.doc, weights=desc_w * desc_w, minlength=n_docs)
        del name_w, desc_w
        # Entries are sorted by (doc, tid, field): a name entry directly followed by a
        # description entry of the same doc and term is a word present in both fields.
        pair = np.flatnonzero((b.doc[:-1] == b.doc[1:]) & (b.tid[:-1] == b.tid[1:]) & is_name[:-1])
        low = np.minimum(w[pair], w[pair + 1])
        overlap = np.bincount(b.doc[pair], weights=low * low, minlength=n_docs)
        cross = np.bincount(b.doc[pair], weights=w[pair] * w[pair + 1], minlength=n_docs)
        a_n = np.where(n2 > 0, p.name_weight, 0.0)
        a_d = np.where(d2 > 0, p.desc_weight, 0.0)
        n_norm = np.where(n2 > 0, np.sqrt(n2), 1.0)
        d_norm = np.where(d2 > 0, np.sqrt(d2), 1.0)
        info = np.sqrt(np.maximum(0.0, n2 + d2 - overlap))
        norm = np.sqrt(a_n * a_n + a_d * a_d + 2.0 * a_n * a_d * cross / (n_norm * d_norm))
        norm[norm == 0] = 1.0  # documents without terms have no entries anyway
        scale = np.minimum(1.0, info / self._info_floor()) ** p.confidence_power / norm
        per_field = np.where(is_name, (a_n * scale / n_norm)[b.doc], (a_d * scale / d_norm)[b.doc])
        final = w * per_field
        del w, per_field
        # Fold each word present in both fields into one posting (the later entry).
        final[pair + 1] += final[pair]
        keep = np.ones(len(final), dtype=bool)
        keep[pair] = False
        tid, doc, final32 = b.tid[keep], b.doc[keep], final[keep].astype(np.float32)
        del final, keep
        # (doc, tid) pairs are unique now: any sort by term then doc gives one order.
        order = np.argsort(tid * (n_docs + 1) + doc)
        tid, slot, final32 = tid[order], (doc[order] + b.start).astype(np.int32), final32[order]
        del order, doc
        if not len(tid):
            return
        run = np.flatnonzero(np.concatenate(([True], tid[1:] != tid[:-1])))
        run_len = np.diff(np.append(run, len(tid)))
        present = tid[run]
        at = fill[tid] + (np.arange(len(tid)) - np.repeat(run, run_len))
        all_slots[at] = slot
        all_w[at] = final32
        fill[present] += run_len
        max_w[present] = np.maximum(max_w[present], np.maximum.reduceat(final32, run))

    def _maybe_refresh(self) -> None:
        # Small corpora are cheap to reweight and their IDF moves a lot with each idea;
        # large ones wait until 10% of the corpus has changed.
        if self._changes > 0 and (self._snap_n < 500 or self._changes > self._snap_n // 10):
            self._reweight()

    # -- search ----------------------------------------------------------------------

    def _finish(
        self, scores: dict[int, float], limit: int, exclude: Sequence[str], q: dict[int, float]
    ) -> list[SimilarMatch]:
        cut = self.threshold / 100.0
        excluded = {self._slots[d] for d in exclude if d in self._slots}
        hits = [(s, slot) for slot, s in scores.items() if s >= cut and slot not in excluded]
        # Ties broken by doc id so both search paths order results identically.
        hits.sort(key=lambda h: (-h[0], self._slot_ids[h[1]] or ""))
        need = self.params.min_shared
        bf = self._bf
        words = {t for t in q if bf[t] == 1.0} if need > 1 else set()
        shown: list[tuple[float, int]] = []
        floor = 0.0
        # Best first, so the shared-word count is only taken for the few hits that could be
        # shown (a large directory can put hundreds over the threshold).
        for h in hits:
            if len(shown) >= limit or h[0] < floor:
                break
            if need > 1 and self._shared_words(h[1], words) < need:
                continue
            if not shown:
                floor = h[0] * self.params.relative_cut
            shown.append(h)
        return [
            SimilarMatch(doc_id=self._slot_ids[slot] or "", score=round(100.0 * min(1.0, s), 2))
            for s, slot in shown
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
            # Essential terms: every posting, summed per slot in C.
            slot_parts = []
            weight_parts = []
            for _, t, w in essential:
                if self._post_docs[t]:
                    slot_parts.append(np.frombuffer(self._post_docs[t], dtype=np.int32))
                    weight_parts.append(
                        np.frombuffer(self._post_w[t], dtype=np.float32).astype(np.float64) * w
                    )
            if not slot_parts:
                return []
            acc = np.asarray(
                np.bincount(
                    np.concatenate(slot_parts),
                    weights=np.concatenate(weight_parts),
                    minlength=len(self._slot_ids),
                ),
                dtype=np.float64,
            )
            # Candidates that can still reach the threshold with every cheap term added.
            cands = np.flatnonzero(acc >= cut - running)
            vals = acc[cands]
            # Cheap terms are looked up only for those candidates, highest bound first,
            # dropping candidates that can no longer make it.
            remaining = running
            for b, t, w in reversed(nonessential):
                keep = vals >= cut - remaining
                cands, vals = cands[keep], vals[keep]
                remaining -= b
                if not len(cands) or not self._post_docs[t]:
                    continue
                docs = np.frombuffer(self._post_docs[t], dtype=np.int32)
                idx = np.searchsorted(docs, cands)
                found = idx < len(docs)
                found[found] = docs[idx[found]] == cands[found]
                if found.any():
                    weights = np.frombuffer(self._post_w[t], dtype=np.float32)
                    vals[found] += weights[idx[found]].astype(np.float64) * w
            hit = vals >= cut
            scores = dict(zip(cands[hit].tolist(), vals[hit].tolist(), strict=True))
            return self._finish(scores, limit, exclude, q)

    def _shared_words(self, slot: int, words: set[int]) -> int:
        """Distinct query words (ids in ``words``) the document at ``slot`` contains."""
        rec = self._records[slot]
        if rec is None:
            return 0
        return len(words.intersection(rec[1:]))

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
                vec = self._doc_vector(rec)
                # Round through float32 like the postings do.
                stored = array("f", vec.values())
                scores[slot] = sum(
                    q.get(t, 0.0) * w for t, w in zip(vec.keys(), stored, strict=True)
                )
            return self._finish(scores, limit, exclude, q)

    async def search(
        self,
        name: str,
        description: str,
        limit: int = 3,
        exclude: Sequence[str] = (),
        *,
        session: object = None,
    ) -> list[SimilarMatch]:
        """Like :meth:`search_sync`, run in a worker thread so the event loop stays free.
        ``session`` is the port's; this index reads no database."""
        return await asyncio.to_thread(self.search_sync, name, description, limit, exclude)

    # -- reporting -------------------------------------------------------------------

    def explain(self, name: str, description: str, doc_id: str) -> Explanation | None:
        """Per-field cosines and the strongest shared terms between a query and a doc."""
        with self._lock:
            slot = self._slots.get(doc_id)
            rec = self._records[slot] if slot is not None else None
            if rec is None:
                return None
            cn_ids, cd_ids = _unpack(rec)
            known = self._term_ids

            def unit(ids: Iterable[int]) -> dict[int, float]:
                w = self._field_weights(ids)
                norm = math.sqrt(sum(x * x for x in w.values())) or 1.0
                return {t: x / norm for t, x in w.items()}

            name_t, desc_t = self.normalizer.field_terms(name, description)
            qn = unit(known[t] for t in name_t if t in known)
            qd = unit(known[t] for t in desc_t if t in known)
            dn, dd = unit(cn_ids), unit(cd_ids)

            def dot(a: dict[int, float], b: dict[int, float]) -> float:
                return sum(w * b.get(t, 0.0) for t, w in a.items())

            q_all = Counter(qn) + Counter(qd)
            c_all = Counter(dn) + Counter(dd)
            shared = sorted((t for t in q_all if t in c_all), key=lambda t: -(q_all[t] * c_all[t]))
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


def _tokens(chunk: Sequence[array[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every term occurrence of a run of records: (document index within ``chunk``,
    term id, field: 0 = name, 1 = description), int64, in record order."""
    flat_arr: array[int] = array("i")
    for rec in chunk:
        flat_arr += rec
    flat = np.frombuffer(flat_arr, dtype=np.int32)
    lens = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
    starts = np.cumsum(lens) - lens
    is_token = np.ones(len(flat), dtype=bool)
    is_token[starts] = False
    tokens = lens - 1
    doc = np.repeat(np.arange(len(chunk), dtype=np.int64), tokens)
    within = np.arange(len(doc)) - np.repeat(np.cumsum(tokens) - tokens, tokens)
    field = (within >= np.repeat(flat[starts], tokens)).astype(np.int64)
    return doc, flat[is_token].astype(np.int64), field


class _Batch:
    """A run of records (no ``None``) flattened into numpy arrays, one entry per
    distinct (document, term, field), sorted by document, then term, then field
    (0 = name, 1 = description), with its term frequency."""

    def __init__(self, chunk: Sequence[array[int]], start: int, n_terms: int) -> None:
        self.start = start
        self.n_docs = len(chunk)
        span = max(n_terms, 1)
        doc, tid, field = _tokens(chunk)
        uniq, counts = np.unique((doc * span + tid) * 2 + field, return_counts=True)
        del doc, tid, field
        self.field = uniq % 2
        doc_tid = uniq // 2
        del uniq
        self.tid = doc_tid % span
        self.doc = doc_tid // span
        self.tf = counts.astype(np.float64)
