"""A plain rapidfuzz scan: the foundation's near-duplicate check until the indexed engine lands."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence

from rapidfuzz import fuzz, utils

from handlers.ports import SimilarMatch


class BaselineSimilarity:
    """Scores every stored idea with ``token_set_ratio`` on name and description (0–100)."""

    threshold = 70.0

    def __init__(self) -> None:
        self._docs: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def rebuild(self, documents: Iterable[tuple[str, str, str]]) -> None:
        with self._lock:
            self._docs = {
                doc_id: (utils.default_process(name), utils.default_process(text))
                for doc_id, name, text in documents
            }

    def upsert(self, doc_id: str, name: str, description: str) -> None:
        with self._lock:
            self._docs[doc_id] = (utils.default_process(name), utils.default_process(description))

    def remove(self, doc_id: str) -> None:
        with self._lock:
            self._docs.pop(doc_id, None)

    def __len__(self) -> int:
        return len(self._docs)

    def search_sync(
        self, name: str, description: str, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[SimilarMatch]:
        query_name, query_text = utils.default_process(name), utils.default_process(description)
        with self._lock:
            docs = list(self._docs.items())
        scored = []
        for doc_id, (doc_name, doc_text) in docs:
            if doc_id in exclude:
                continue
            score = 0.4 * fuzz.token_set_ratio(query_name, doc_name) + 0.6 * fuzz.token_set_ratio(
                query_text, doc_text
            )
            if score >= self.threshold:
                scored.append(SimilarMatch(doc_id, round(score, 1)))
        scored.sort(key=lambda m: -m.score)
        return scored[:limit]

    async def search(
        self, name: str, description: str, limit: int = 3, exclude: Sequence[str] = ()
    ) -> list[SimilarMatch]:
        return await asyncio.to_thread(self.search_sync, name, description, limit, exclude)
