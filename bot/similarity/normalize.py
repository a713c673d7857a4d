"""Indonesian text normalisation for near-duplicate matching.

The output of :class:`Normalizer` is a list of *terms* used only for matching; stored
texts are never altered. The pipeline, in order:

1. Unicode folding (NFKD, accents dropped), camelCase split ("SiJempol" -> "Si Jempol").
2. Region names after a region marker ("Kota Semarang", "Kabupaten Gunungkidul") are
   removed: they say where an idea runs, not what it is, and in a national directory
   they are rare enough that a rarity weight alone would make them look meaningful.
3. Lower-casing, tokenising on anything that is not a letter or digit; pure numbers
   (years, "Top 99") are dropped.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

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
_REGION_RE = re.compile(
    rf"\b(?:{_REGION_MARKERS})\.?\s+([A-Z][A-Za-z'\-]+(?:\s+[A-Z][A-Za-z'\-]+)?)"
)
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TOKEN_RE = re.compile(r"[a-z0-9]+")
_CONCEPT_JOIN = "_"


def _fold(text: str) -> str:
    """NFKD-fold and drop combining marks so "é" matches "e"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


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
    concept_weight: float = 1.0
    _stem_cache: dict[str, str] = field(default_factory=dict, repr=False)
    _phrases: dict[str, list[tuple[tuple[str, ...], str]]] = field(
        default_factory=dict, repr=False
    )
    _single: dict[str, str] = field(default_factory=dict, repr=False)
    _stopwords: frozenset[str] = field(default=frozenset(), repr=False)
    _boilerplate: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        self._stemmer = StemmerFactory().create_stemmer()
        self._roots = _root_words()
        # Stopwords are compared both raw and stemmed: "dengan" must go whether or not
        # Sastrawi would have reduced it.
        raw_stop = {w.lower() for line in _read_lines(self.stopwords_path) for w in line.split()}
        self._stopwords = frozenset(raw_stop | {self._stem(w) for w in raw_stop})
        self._load_synonyms()
        bp: set[str] = set()
        for line in _read_lines(self.boilerplate_path):
            bp.update(self._apply_synonyms(self._stem_tokens(line)))
        self._boilerplate = frozenset(bp)
        self._concepts = frozenset(self._single.values()) | frozenset(
            concept for options in self._phrases.values() for _, concept in options
        )

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

    def _stem(self, token: str) -> str:
        """Stem one lower-case token, memoised (Sastrawi is slow per call)."""
        cached = self._stem_cache.get(token)
        if cached is not None:
            return cached
        # Short tokens and digits carry no affixes; skipping them saves most calls on
        # acronym-heavy innovation names.
        stem = token if len(token) <= 3 or token.isdigit() else self._stemmer.stem(token)
        if not stem:
            stem = token
        self._stem_cache[token] = stem
        return stem

    def _stem_tokens(self, text: str) -> list[str]:
        """Tokenise and stem text already free of region names; numbers dropped."""
        text = _CAMEL_RE.sub(" ", _fold(text)).lower()
        return [self._stem(t) for t in _TOKEN_RE.findall(text) if not t.isdigit()]

    def _strip_regions(self, text: str) -> str:
        """Blank out place names that follow a region marker, keeping real words."""

        def repl(match: re.Match[str]) -> str:
            words = match.group(1).split()
            kept = [w for w in words if w.lower() in self._roots]
            # Cut the match just before the place name; keep dictionary words such as
            # "Sehat" in "Kota Sehat" or "Wisata" in "Desa Wisata".
            start = match.start(1) - match.start(0)
            return match.group(0)[:start] + " ".join(kept)

        return _REGION_RE.sub(repl, text)

    def _apply_synonyms(self, tokens: list[str]) -> list[str]:
        """Fold phrases and single-token synonyms into their concept term."""
        out: list[str] = []
        i = 0
        n = len(tokens)
        phrases = self._phrases
        single = self._single
        while i < n:
            tok = tokens[i]
            options = phrases.get(tok)
            if options is not None:
                for phrase, concept in options:
                    k = len(phrase)
                    if tuple(tokens[i : i + k]) == phrase:
                        out.append(concept)
                        i += k
                        break
                else:
                    out.append(single.get(tok, tok))
                    i += 1
                continue
            out.append(single.get(tok, tok))
            i += 1
        return out

    def terms(self, text: str) -> list[str]:
        """Matching terms of ``text`` in order, with repeats (for term frequencies)."""
        if not text:
            return []
        tokens = self._stem_tokens(self._strip_regions(text))
        stop = self._stopwords
        return [t for t in self._apply_synonyms(tokens) if t not in stop and len(t) > 1]

    def term_factor(self, term: str) -> float:
        """Weight multiplier on top of rarity: low for idea-free boilerplate, high for
        the service vocabulary of the synonyms file (Bappeda listed those words because
        they name services, groups and channels), 1 otherwise.
        """
        if term in self._boilerplate:
            return self.boilerplate_weight
        if term in self._concepts:
            return self.concept_weight
        return 1.0

    def is_boilerplate(self, term: str) -> bool:
        """Whether ``term`` is listed as boilerplate."""
        return term in self._boilerplate

    def warm(self, tokens: Iterable[str]) -> None:
        """Pre-fill the stem cache (used by benchmarks and start-up)."""
        for tok in tokens:
            self._stem(tok)
