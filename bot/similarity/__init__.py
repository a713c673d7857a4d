"""Similar-idea engine: Indonesian normalisation, an inverted index and a 0–100 score."""

from bot.similarity.index import SimilarityIndex

__all__ = ["SimilarityIndex"]
