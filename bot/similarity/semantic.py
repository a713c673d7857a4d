"""Learned word concepts: the semantic layer of the similar-idea check.

``semantic_concepts.tsv`` maps matching terms (stemmed, after synonyms) to a concept
token such as ``≈k17``. It is trained offline by ``bench/train_semantic.py``: PPMI of
word co-occurrence in innovation descriptions, reduced with an SVD and clustered with
k-means, so words that are used in the same contexts ("seragam", "sepatu", "tas") share
a concept. The file is shipped with the code and read at start; nothing is downloaded.

The index adds the concept tokens of a text's terms to its description field at a
fraction of a word's weight (:attr:`SemanticConcepts.weight`), so two entries that say
the same thing in different words still share something, while an exact word shared by
both keeps counting far more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CONCEPTS_FILE = Path(__file__).resolve().parent / "semantic_concepts.tsv"
# Concept tokens cannot be produced by the text pipeline (it folds text to ASCII words).
PREFIX = "≈"
DEFAULT_WEIGHT = 0.15


@dataclass
class SemanticConcepts:
    """Term -> concept token, and the weight concept tokens get (0 turns them off)."""

    path: Path | None = CONCEPTS_FILE
    weight: float = DEFAULT_WEIGHT
    _concept: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.path is None or not self.path.is_file() or self.weight <= 0:
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            term, _, concept = line.partition("\t")
            if term and concept:
                self._concept[term] = PREFIX + concept.strip()

    def __len__(self) -> int:
        return len(self._concept)

    def concept(self, term: str) -> str | None:
        """Concept token of one matching term, or None."""
        return self._concept.get(term)

    def tokens(self, terms: Iterable[str]) -> list[str]:
        """Concept tokens of ``terms``, in order, with repeats."""
        get = self._concept.get
        return [c for c in map(get, terms) if c is not None]

    @staticmethod
    def is_concept(term: str) -> bool:
        return term.startswith(PREFIX)
