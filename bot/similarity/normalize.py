"""Indonesian text normalisation for near-duplicate matching.

The output of :class:`Normalizer` is a list of *terms* used only for matching; stored
texts are never altered. The pipeline, in order:

1. Unicode folding (NFKD, accents dropped), camelCase split ("SiJempol" -> "Si Jempol").
2. Region names after a region marker ("Kota Semarang", "Kabupaten Gunungkidul") are
   removed: they say where an idea runs, not what it is, and in a national directory
   they are rare enough that a rarity weight alone would make them look meaningful.
3. Lower-casing, tokenising on anything that is not a letter or digit; pure numbers
   (years, "Top 99") are dropped unless the lexicon names them (the emergency line 112).
4. Stemming with PySastrawi, cached per token because the stemmer costs ~0.5 ms a call.
5. Abbreviations, acronyms and synonyms from ``synonyms.tsv`` (Bappeda can extend it)
   are folded into one concept term, matched on the stemmed token sequence so that
   "mendatangi warga" and "datangi warga" both hit.
6. Stopwords from ``stopwords.txt`` are removed.

Boilerplate (``boilerplate.txt``: "inovasi", "dinas", award names...) is *kept* as terms
but reported by :meth:`Normalizer.boilerplate_factor` so the index can weight it down on
top of the corpus rarity weight.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, pairwise
from pathlib import Path
from typing import Any, TypeVar

from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

DATA_DIR = Path(__file__).resolve().parent
SYNONYMS_FILE = DATA_DIR / "synonyms.tsv"
STOPWORDS_FILE = DATA_DIR / "stopwords.txt"
BOILERPLATE_FILE = DATA_DIR / "boilerplate.txt"

# Words that introduce a place name in Indonesian administrative writing.
_REGION_MARKERS = (
    "Kabupaten|Kab|Kota|Kotamadya|Provinsi|Prov|Propinsi|Kecamatan|Kec|Desa|Kelurahan|Kel"
    "|Nagari|Gampong|Kampung|Distrik|Pemkab|Pemkot|Pemprov"
)
_MARKERS = frozenset(_REGION_MARKERS.split("|")) | frozenset(
    m.upper() for m in _REGION_MARKERS.split("|")
)
# Every ASCII character that is not a letter or digit becomes a space (str.translate
# plus split is twice as fast as a regex split on this hot path).
_SPLIT_TABLE = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})
# Separates name and description when both go through the pipeline in one pass; it
# cannot come out of the split above, so no text can contain it.
_FIELD_SEP = "\x00"
# Parts of one word on its original casing: an upper-case run with its lower-case tail
# ("KTPel", "Jempol"), a lower-case run, or digits; so camelCase splits
# ("SiJempol" -> Si, Jempol). Applied once per distinct word (memoised).
_TOKEN_RE = re.compile(r"[A-Z]+[a-z]*|[a-z]+|[0-9]+")
_CONCEPT_JOIN = "_"
_STEM_CACHE_HEADER = "# sasi stem cache v1 (token<TAB>PySastrawi stem)"


_V = TypeVar("_V")

# How a word is treated after a region marker (see Normalizer.place_role).
PLACE_END = 0  # ends the place name: lower-case, digits, or the field separator
PLACE_MARKER = 1
PLACE_KEPT = 2  # capitalised dictionary word ("Sehat" in "Kota Sehat"): kept, name goes on
PLACE_DROPPED = 3


def new_stemmer() -> Any:
    """PySastrawi's stemmer without its own cache (ours is a plain dict)."""
    return StemmerFactory().create_stemmer().delegatedStemmer


def compute_stem(stemmer: Any, token: str) -> str:
    """Stem of one lower-case token (a number is its own stem); shared with the rebuild
    helper process so both give the same stems."""
    if token.isdigit():
        # Most numbers (years, "Top 99", counts) carry no idea and are dropped as terms
        # (see Normalizer._compute_final); the lexicon can still name the few that do,
        # such as the emergency line 112, so they pass through phrase matching.
        return token
    # Short tokens carry no affixes; skipping them saves many calls on acronyms.
    if len(token) <= 3:
        return token
    stem: str = stemmer.stem(token)
    return stem or token


def _fold(text: str) -> str:
    """NFKD-fold and drop what is not ASCII, so "é" matches "e"."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _positions(items: list[str], wanted: Iterable[str]) -> list[int]:
    """Sorted indexes of every occurrence of the ``wanted`` values (list.index is C, so
    the cost follows the number of hits, not the length of ``items``)."""
    found: list[int] = []
    for value in wanted:
        i = items.index(value)
        while True:
            found.append(i)
            try:
                i = items.index(value, i + 1)
            except ValueError:
                break
    found.sort()
    return found


class _Memo(dict[str, _V]):
    """A dict that computes and keeps missing values, so ``map(memo.__getitem__, ...)``
    runs at C speed for every key seen before."""

    def __init__(self, compute: Callable[[str], _V]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> _V:
        value = self._compute(key)
        self[key] = value
        return value


def _read_lines(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a UTF-8 data file."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


@lru_cache(maxsize=1)
def _root_words() -> frozenset[str]:
    """PySastrawi's dictionary of Indonesian root words."""
    return frozenset(w.strip() for w in StemmerFactory().get_words() if w.strip())


@dataclass
class Normalizer:
    """Turns Indonesian text into matching terms. One instance is shared by an index."""

    synonyms_path: Path = SYNONYMS_FILE
    stopwords_path: Path = STOPWORDS_FILE
    boilerplate_path: Path = BOILERPLATE_FILE
    boilerplate_weight: float = 0.2
    _phrases: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict, repr=False)
    _single: dict[str, str] = field(default_factory=dict, repr=False)
    _stopwords: frozenset[str] = field(default=frozenset(), repr=False)
    _boilerplate: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        self._stemmer = new_stemmer()
        self._stem_cache = _Memo(self._compute_stem)
        self._word_cache = _Memo(self._compute_word)
        self._final = _Memo(self._compute_final)
        # The field separator passes through stemming and synonyms unchanged.
        self._word_cache[_FIELD_SEP] = (_FIELD_SEP,)
        self._final[_FIELD_SEP] = _FIELD_SEP
        self._roots = _root_words()
        # Stopwords are compared both raw and stemmed: "dengan" must go whether or not
        # Sastrawi would have reduced it.
        raw_stop = {w.lower() for line in _read_lines(self.stopwords_path) for w in line.split()}
        self._stopwords = frozenset(raw_stop | {self.stem(w) for w in raw_stop})
        self._load_synonyms()
        self._phrase_first = frozenset(self._phrases)
        self._phrase_bigrams = frozenset(
            phrase[:2] for options in self._phrases.values() for phrase, _ in options
        )
        bp: set[str] = set()
        for line in _read_lines(self.boilerplate_path):
            bp.update(self._apply_synonyms(self._stem_tokens(line)))
        self._boilerplate = frozenset(bp)

    # -- loading ---------------------------------------------------------------------

    def _load_synonyms(self) -> None:
        """Read ``canonical<TAB>variant<TAB>...``; every form maps to one concept term."""
        for line in _read_lines(self.synonyms_path):
            forms = [f.strip() for f in line.split("\t") if f.strip()]
            if not forms:
                continue
            canonical_tokens = self._stem_tokens(forms[0])
            if not canonical_tokens:
                continue
            concept = _CONCEPT_JOIN.join(canonical_tokens)
            for form in forms:
                tokens = tuple(self._stem_tokens(form))
                if not tokens:
                    continue
                if len(tokens) == 1:
                    self._single[tokens[0]] = concept
                else:
                    self._phrases.setdefault(tokens[0], []).append((tokens, concept))
        # Longest phrase first so "penyandang disabilitas" wins over "disabilitas".
        for options in self._phrases.values():
            options.sort(key=lambda item: -len(item[0]))

    # -- pipeline --------------------------------------------------------------------

    def _compute_stem(self, token: str) -> str:
        return compute_stem(self._stemmer, token)

    def _compute_word(self, word: str) -> tuple[str, ...]:
        """Stems of one raw word: camelCase and digits split off
        ("SiJempol" -> si, jempol; "KTPel" -> ktpel; "2021" -> 2021, which
        :meth:`_compute_final` drops unless the lexicon names it)."""
        parts = _TOKEN_RE.findall(word)
        return tuple(s for s in (self._stem_cache[p.lower()] for p in parts) if s)

    def _compute_final(self, stem: str) -> str:
        """Matching term of a stem: its synonym concept, or "" for stopwords and for
        numbers the lexicon does not name."""
        term = self._single.get(stem, stem)
        if term.isdigit() or term in self._stopwords or len(term) < 2:
            return ""
        return term

    def _stems(self, words: list[str]) -> list[str]:
        # One C-level pass: each word maps to its (memoised) stems, chained.
        return list(chain.from_iterable(map(self._word_cache.__getitem__, words)))

    def _stem_tokens(self, text: str) -> list[str]:
        """Tokenise and stem text without looking for place names; numbers dropped."""
        return self._stems(_fold(text).translate(_SPLIT_TABLE).split())

    def _drop_places(self, words: list[str]) -> list[str]:
        """Remove place names that follow a region marker ("Kota Semarang"), keeping
        dictionary words such as "Sehat" in "Kota Sehat" or "Wisata" in "Desa Wisata"."""
        n = len(words)
        drop: set[int] = set()
        for i in _positions(words, _MARKERS.intersection(words)):
            for j in (i + 1, i + 2):
                role = self.place_role(words[j]) if j < n else PLACE_END
                if role == PLACE_DROPPED:
                    drop.add(j)
                elif role != PLACE_KEPT:
                    break
        for j in sorted(drop, reverse=True):
            del words[j]
        return words

    def _apply_phrases(self, tokens: list[str]) -> list[str]:
        """Fold multi-word forms ("lanjut usia", "ktp el") into their concept term."""
        phrases = self._phrases
        if self._phrase_first.isdisjoint(tokens):
            return tokens
        # Only words followed by the second word of one of their phrases can start one;
        # the bigram test runs in C and rules out most texts.
        hits = self._phrase_bigrams.intersection(pairwise(tokens))
        if not hits:
            return tokens
        starts = _positions(tokens, {first for first, _ in hits})
        out: list[str] = []
        done = 0  # tokens before this index are already in ``out``
        for i in starts:
            if i < done:
                continue  # inside a phrase already folded
            for phrase, concept in phrases[tokens[i]]:
                k = len(phrase)
                if tuple(tokens[i : i + k]) == phrase:
                    out.extend(tokens[done:i])
                    out.append(concept)
                    done = i + k
                    break
        out.extend(tokens[done:])
        return out

    def _apply_synonyms(self, tokens: list[str]) -> list[str]:
        """Phrases, then single-token synonyms (used when loading the data files)."""
        return [self._single.get(t, t) for t in self._apply_phrases(tokens)]

    def _pipeline(self, words: list[str]) -> list[str]:
        # Rebuilding 100,000 ideas is dominated by this function, so every step runs
        # in C (translate/split, set tests, map over memo dicts) unless the text has a
        # region marker or a word that can start a multi-word synonym.
        if not _MARKERS.isdisjoint(words):
            words = self._drop_places(words)
        stems = self._apply_phrases(self._stems(words))
        return list(filter(None, map(self._final.__getitem__, stems)))

    def terms(self, text: str) -> list[str]:
        """Matching terms of ``text`` in order, with repeats (for term frequencies)."""
        if not text:
            return []
        return self._pipeline(_fold(text).translate(_SPLIT_TABLE).split())

    def field_terms(self, name: str, description: str) -> tuple[list[str], list[str]]:
        """``(terms(name), terms(description))`` in one pass through the pipeline."""
        words = _fold(name).translate(_SPLIT_TABLE).split()
        words.append(_FIELD_SEP)
        words.extend(_fold(description).translate(_SPLIT_TABLE).split())
        out = self._pipeline(words)
        cut = out.index(_FIELD_SEP)
        return out[:cut], out[cut + 1 :]

    # -- hooks for normalising a whole corpus at once (bot.similarity.bulk) ------------

    def place_role(self, word: str) -> int:
        """How :meth:`_drop_places` treats ``word`` (one of the ``PLACE_*`` values)."""
        if word in _MARKERS:
            return PLACE_MARKER
        if not word[:1].isupper():
            return PLACE_END
        return PLACE_KEPT if word.lower() in self._roots else PLACE_DROPPED

    def unstemmed(self, word: str) -> list[str]:
        """Tokens of a raw word that still need PySastrawi (not cached, not a number,
        long enough to carry an affix)."""
        cache = self._stem_cache
        return [
            t
            for t in (p.lower() for p in _TOKEN_RE.findall(word))
            if len(t) > 3 and t not in cache and not t.isdigit()
        ]

    def word_stems(self, word: str) -> tuple[str, ...]:
        """Stems of one raw word, as the pipeline uses them (not kept in the word cache:
        a bulk caller asks once per distinct word)."""
        return self._compute_word(word)

    def final_term(self, stem: str) -> str:
        """Matching term of a stem after synonyms; "" if it is dropped (stopword)."""
        return self._final[stem]

    def phrase_table(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        """First stem -> multi-word forms starting with it (longest first) and their
        concept term. Shared, not a copy: read only."""
        return self._phrases

    def term_factor(self, term: str) -> float:
        """Weight multiplier on top of rarity: low for idea-free boilerplate, else 1."""
        return self.boilerplate_weight if term in self._boilerplate else 1.0

    def stem_cache_snapshot(self) -> dict[str, str]:
        """A copy of the token -> stem cache."""
        return dict(self._stem_cache)

    def stem(self, token: str) -> str:
        """Stem of one lower-case token, through the cache (PySastrawi is slow)."""
        return self._stem_cache[token]

    def trim(self) -> None:
        """Forget the per-spelling word cache (rebuilt lazily): it keeps every spelling
        ever searched or upserted, while the stem cache that avoids PySastrawi calls is
        kept. (A rebuild does not fill it: see :mod:`bot.similarity.bulk`.)"""
        self._word_cache.clear()
        self._word_cache[_FIELD_SEP] = (_FIELD_SEP,)

    def merge_stems(self, stems: dict[str, str]) -> None:
        """Add stems computed elsewhere (a helper process, a saved cache)."""
        for token, stem in stems.items():
            self._stem_cache.setdefault(token, stem)

    def load_stems(self, path: Path) -> int:
        """Merge a saved stem cache; returns how many entries were read.

        A missing or unreadable file is not an error: stems are then recomputed.
        """
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return 0
        if not lines or lines[0] != _STEM_CACHE_HEADER:
            return 0
        count = 0
        for line in lines[1:]:
            token, sep, stem = line.partition("\t")
            if sep and token and stem:
                self._stem_cache.setdefault(token, stem)
                count += 1
        return count

    def save_stems(self, path: Path) -> None:
        """Write the stem cache atomically, so a restart skips PySastrawi for known words."""
        tmp = path.with_name(path.name + ".tmp")
        body = "\n".join(f"{t}\t{s}" for t, s in self._stem_cache.items())
        tmp.write_text(f"{_STEM_CACHE_HEADER}\n{body}\n", encoding="utf-8")
        tmp.replace(path)
