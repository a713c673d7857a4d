"""Normalising a whole corpus at once, for :meth:`SimilarityIndex.rebuild`.

:meth:`Normalizer.field_terms` takes one idea at a time, and at 100,000 ideas its
per-call Python overhead was most of a rebuild. Here rows are joined into batches and
every step that does not depend on a word's spelling runs over a whole batch in numpy:

1. *Reading* (:meth:`CorpusEncoder.add`): a batch is folded, split and turned into word
   ids in C; place names after region markers are dropped with per-word flags
   (:meth:`Normalizer.place_role`). Each distinct word is looked at once, when it is
   first kept, and its tokens that PySastrawi has not stemmed yet are handed out.
2. *Stemming*: done by the caller (:class:`bot.similarity.parallel.StemPool`), once per
   distinct token and before any text is encoded, so that work can be split between
   two processes without either stemming a word twice.
3. *Encoding* (:meth:`CorpusEncoder.records`): word ids expand into stem ids through a
   per-word table, multi-word synonyms are found through their first two stems, and
   stem ids map to the index's term ids (registered in order of first appearance, as a
   row-by-row build does). Each batch comes out as index records.

The result is exactly that of ``field_terms`` row by row (the tests compare them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from bot.similarity.normalize import (
    _FIELD_SEP,
    _SPLIT_TABLE,
    PLACE_DROPPED,
    PLACE_END,
    PLACE_KEPT,
    PLACE_MARKER,
    Normalizer,
    _fold,
)

# Between the texts of a batch: the separator is a word of its own that no text can
# produce (the split table turns every other control character into a space).
_JOIN = f" {_FIELD_SEP} "
_BATCH_TABLE = {k: v for k, v in _SPLIT_TABLE.items() if k != ord(_FIELD_SEP)}
_SEP_ID = 0  # word id and stem id of the separator
_SEP_CODE = -1  # its code in an encoded batch
_DROPPED = -2  # code of a stem that is no term (stopword)
_UNSET = -3


class _Ids(dict[str, int]):
    """Value -> dense id; a miss registers the value, so ``map(ids.__getitem__, ...)``
    stays in C for values seen before."""

    def __init__(self, first: str) -> None:
        super().__init__()
        self.names: list[str] = []  # by id
        self.__missing__(first)  # id 0

    def __missing__(self, value: str) -> int:
        i = len(self.names)
        self.names.append(value)
        self[value] = i
        return i


class CorpusEncoder:
    """Turns batches of ``(name, description)`` into index records (see module doc)."""

    def __init__(self, normalizer: Normalizer) -> None:
        self._norm = normalizer
        self._word_ids = _Ids(_FIELD_SEP)
        self._role = np.array([PLACE_END], dtype=np.int8)
        # Words already kept in some text; the separator needs no stem.
        self._used = np.ones(1, dtype=bool)
        self._handed_out: set[str] = set()
        self._batches: list[np.ndarray] = []

    # -- reading -----------------------------------------------------------------------

    def add(self, rows: Sequence[tuple[str, str]]) -> list[str]:
        """Read one batch; returns the tokens of its new words that still need PySastrawi
        (each token once over all batches)."""
        if not rows:
            return []
        texts = [text for row in rows for text in row]
        joined = _JOIN.join(texts)
        if joined.count(_FIELD_SEP) != len(texts) - 1:
            # A text holding the separator itself: it would be a space anyway.
            joined = _JOIN.join(t.replace(_FIELD_SEP, " ") for t in texts)
        words = _fold(joined).translate(_BATCH_TABLE).split()
        del joined
        known = len(self._word_ids.names)
        ids = np.fromiter(map(self._word_ids.__getitem__, words), dtype=np.int32, count=len(words))
        del words
        new_words = self._word_ids.names[known:]
        if new_words:
            roles = np.fromiter(map(self._norm.place_role, new_words), np.int8, len(new_words))
            self._role = np.concatenate((self._role, roles))
            self._used = np.concatenate((self._used, np.zeros(len(new_words), dtype=bool)))
        ids = self._drop_places(ids)
        self._batches.append(ids)
        # Words kept for the first time (a mask, not np.unique: that hashes, slowly).
        here = np.zeros(len(self._used), dtype=bool)
        here[ids] = True
        fresh = np.flatnonzero(here & ~self._used)
        self._used |= here
        out: list[str] = []
        words_of = self._word_ids.names
        handed_out = self._handed_out
        for wid in fresh.tolist():
            for token in self._norm.unstemmed(words_of[wid]):
                if token not in handed_out:
                    handed_out.add(token)
                    out.append(token)
        return out

    def _drop_places(self, ids: np.ndarray) -> np.ndarray:
        """Same rule as :meth:`Normalizer._drop_places`, for every marker of the batch:
        up to two capitalised words after a marker go, unless they are dictionary words.
        Separators end a name, so it never runs into the next text."""
        role = self._role[ids]
        marks = np.flatnonzero(role == PLACE_MARKER)
        if not len(marks):
            return ids
        role = np.append(role, (PLACE_END, PLACE_END))  # the batch end ends a name too
        first, second = role[marks + 1], role[marks + 2]
        goes_on = (first == PLACE_DROPPED) | (first == PLACE_KEPT)
        drop = np.concatenate(
            (marks[first == PLACE_DROPPED] + 1, marks[goes_on & (second == PLACE_DROPPED)] + 2)
        )
        if not len(drop):
            return ids
        keep = np.ones(len(ids), dtype=bool)
        keep[drop] = False
        return ids[keep]

    # -- encoding ----------------------------------------------------------------------

    def records(self, term_id: Callable[[str], int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per batch, in reading order: the records of its rows laid end to end (each
        ``[len(name), name term ids..., description term ids...]``, int32) and their
        lengths. Call once every token handed out by :meth:`add` is stemmed (a token that
        is not is stemmed here); batches are released as they are encoded."""
        norm = self._norm
        stem_ids = _Ids(_FIELD_SEP)
        sid = stem_ids.__getitem__
        # Multi-word synonyms in stem ids, registered first so that the id space is
        # complete before bigram keys are computed.
        options: dict[int, list[tuple[tuple[int, ...], int]]] = {}
        for first, forms in norm.phrase_table().items():
            options[sid(first)] = [(tuple(map(sid, p)), sid(concept)) for p, concept in forms]
        # Word id -> its stem ids, as one flat table.
        words_of = self._word_ids.names
        n_words = len(words_of)
        count = np.zeros(n_words, dtype=np.int64)
        offset = np.zeros(n_words, dtype=np.int64)
        table: list[int] = [_SEP_ID]
        count[_SEP_ID] = 1
        for wid in np.flatnonzero(self._used).tolist():
            if wid == _SEP_ID:
                continue
            stems = norm.word_stems(words_of[wid])
            offset[wid] = len(table)
            count[wid] = len(stems)
            table.extend(map(sid, stems))
        word_stems = np.array(table, dtype=np.int32)
        del table
        n_stems = len(stem_ids.names)
        starts_phrase = np.zeros(n_stems, dtype=bool)
        starts_phrase[list(options)] = True
        bigrams = np.unique(
            np.array(
                [p[0] * n_stems + p[1] for forms in options.values() for p, _ in forms],
                dtype=np.int64,
            )
        )
        code = np.full(n_stems, _UNSET, dtype=np.int32)
        code[_SEP_ID] = _SEP_CODE
        stems_of = stem_ids.names
        self._batches.reverse()  # popped from the end, so each is freed once encoded
        while self._batches:
            ids = self._batches.pop()
            n = count[ids]
            starts = np.cumsum(n) - n
            sids = word_stems[np.repeat(offset[ids] - starts, n) + np.arange(int(n.sum()))]
            del ids, n, starts
            if len(bigrams) and len(sids) > 1:
                sids = self._fold_phrases(sids, starts_phrase, bigrams, n_stems, options)
            codes = code[sids]
            unset = np.flatnonzero(codes == _UNSET)
            if len(unset):
                # Terms are registered at their first appearance, as a row-by-row build
                # does (np.unique sorts by stem id; first_at gives text order back).
                new, first_at = np.unique(sids[unset], return_index=True)
                for s in new[np.argsort(first_at)].tolist():
                    term = norm.final_term(stems_of[s])
                    code[s] = term_id(term) if term else _DROPPED
                codes = code[sids]
            del sids
            yield _to_records(codes[codes != _DROPPED])

    @staticmethod
    def _fold_phrases(
        sids: np.ndarray,
        starts_phrase: np.ndarray,
        bigrams: np.ndarray,
        n_stems: int,
        options: dict[int, list[tuple[tuple[int, ...], int]]],
    ) -> np.ndarray:
        """Same as :meth:`Normalizer._apply_phrases` on a whole batch: only positions
        whose first two stems begin some phrase are tried, left to right, longest first.
        No phrase holds the separator, so none spans two texts."""
        at = np.flatnonzero(starts_phrase[sids[:-1]])
        if not len(at):
            return sids
        keys = sids[at].astype(np.int64) * n_stems + sids[at + 1]
        slot = np.minimum(np.searchsorted(bigrams, keys), len(bigrams) - 1)
        at = at[bigrams[slot] == keys]
        if not len(at):
            return sids
        heads: list[int] = []
        concepts: list[int] = []
        cut: list[int] = []
        done = 0  # positions before this are inside a phrase already folded
        for i in at.tolist():
            if i < done:
                continue
            for phrase, concept in options[int(sids[i])]:
                k = len(phrase)
                if tuple(sids[i : i + k].tolist()) == phrase:
                    heads.append(i)
                    concepts.append(concept)
                    cut.extend(range(i + 1, i + k))
                    done = i + k
                    break
        if not heads:
            return sids
        sids[heads] = concepts
        keep = np.ones(len(sids), dtype=bool)
        keep[cut] = False
        return sids[keep]


def _to_records(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoded batch (fields separated by ``_SEP_CODE``: name, description, name...) ->
    records laid end to end and their lengths."""
    seps = np.flatnonzero(codes == _SEP_CODE)
    bounds = np.concatenate(([-1], seps, [len(codes)]))
    lengths = np.diff(bounds) - 1  # name, description, name, description...
    name_len, desc_len = lengths[0::2], lengths[1::2]
    body_len = name_len + desc_len
    row_start = np.cumsum(body_len) - body_len
    flat = np.insert(codes[codes != _SEP_CODE], row_start, name_len).astype(np.int32)
    return flat, body_len + 1
