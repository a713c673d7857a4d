"""Interfaces the core needs from the outside, implemented in ``bot/``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class SimilarMatch:
    """An existing document close to a query; ``score`` is 0–100 like every score in SASI."""

    doc_id: str
    score: float


class SimilarityService(Protocol):
    """The near-duplicate engine as the conversations see it.

    Documents are ideas (``"idea:<id>"``) and imported directory entries (``"dir:<id>"``).
    ``search`` returns only matches above the engine's threshold, best first, at most ``limit``.
    A step passes its own ``session``, so that looking for ideas other processes saved never
    waits for a second connection while the step holds one.
    """

    async def search(
        self,
        name: str,
        description: str,
        limit: int = 3,
        exclude: Sequence[str] = (),
        *,
        session: AsyncSession | None = None,
    ) -> list[SimilarMatch]: ...

    def upsert(self, doc_id: str, name: str, description: str) -> None: ...

    def remove(self, doc_id: str) -> None: ...
