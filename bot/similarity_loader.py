"""The near-duplicate index as the core uses it: built from the database at start-up, and kept
in step with ideas that other processes saved."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.similarity import SimilarityIndex
from handlers.ports import SimilarMatch
from storage.db import Database
from storage.directory import DOC_PREFIX, directory_documents
from storage.models import Idea, IdeaStatus
from storage.queries import all_idea_documents

# Rows committed by another process in the same instant may carry a slightly older
# timestamp than the newest one seen: look back this far on every catch-up.
CATCH_UP_OVERLAP = timedelta(seconds=5)
HIDDEN = (IdeaStatus.WITHDRAWN, IdeaStatus.MERGED)


class _Changed(NamedTuple):
    idea_id: int
    name: str
    problem: str
    text: str
    status: IdeaStatus
    updated_at: datetime


class DatabaseSyncedIndex:
    """Wraps :class:`SimilarityIndex`: before each search, ideas changed since the last look
    (saved, edited or merged, by this process or another one sharing the database) are
    applied, so every copy of SASI warns about the same ideas."""

    def __init__(self, database: Database, index: SimilarityIndex | None = None) -> None:
        self.database = database
        self.index = index if index is not None else SimilarityIndex()
        self._seen_until: datetime | None = None
        # Directory entries are only ever added (import-directory): the highest id seen is
        # enough to find the new ones.
        self._seen_entry = 0
        self._recent: dict[int, datetime] = {}  # applied rows still inside the look-back
        self._catch_up_lock = asyncio.Lock()

    @property
    def threshold(self) -> float:
        return float(self.index.threshold)

    def __len__(self) -> int:
        return len(self.index)

    async def rebuild(self) -> None:
        async with self.database.sessions() as session:
            newest = await session.scalar(select(Idea.updated_at).order_by(Idea.updated_at.desc()))
            documents = await all_idea_documents(session)
            entries = await directory_documents(session)
        documents += [(f"{DOC_PREFIX}{i}", name, text) for i, name, text in entries]
        await asyncio.to_thread(self.index.rebuild, documents)
        self._seen_until = newest
        self._seen_entry = max((i for i, _, _ in entries), default=self._seen_entry)

    async def catch_up(self, session: AsyncSession | None = None) -> int:
        """Apply ideas changed since the last look; returns how many were applied.

        With ``session`` (a step's own), the look goes through it: catch-ups take turns, and
        a turn that had to wait for a second pool connection while every connection is held
        by a step queued behind it would stall them all until the pool's timeout."""
        async with self._catch_up_lock:
            if session is not None:
                rows, entries = await self._changes(session)
            else:
                async with self.database.sessions() as own:
                    rows, entries = await self._changes(own)
            fresh = [row for row in rows if self._recent.get(row.idea_id) != row.updated_at]
            if fresh:
                # Normalising text costs CPU: never on the event loop.
                await asyncio.to_thread(self._apply, fresh)
            if entries:
                await asyncio.to_thread(self._apply_entries, entries)
            return len(fresh) + len(entries)

    async def _changes(
        self, session: AsyncSession
    ) -> tuple[list[_Changed], list[tuple[int, str, str]]]:
        query = select(Idea.id, Idea.name, Idea.problem, Idea.idea, Idea.status, Idea.updated_at)
        if self._seen_until is not None:
            query = query.where(Idea.updated_at >= self._seen_until - CATCH_UP_OVERLAP)
        rows = [_Changed(*row) for row in (await session.execute(query)).all()]
        return rows, list(await directory_documents(session, self._seen_entry))

    def _apply_entries(self, entries: Sequence[tuple[int, str, str]]) -> None:
        for entry_id, name, text in entries:
            self.index.upsert(f"{DOC_PREFIX}{entry_id}", name, text)
            self._seen_entry = max(self._seen_entry, entry_id)

    def _apply(self, rows: Sequence[_Changed]) -> None:
        for idea_id, name, problem, text, status, updated_at in rows:
            doc_id = f"idea:{idea_id}"
            if status in HIDDEN:
                self.index.remove(doc_id)
            else:
                self.index.upsert(doc_id, name, f"{problem}\n{text}")
            self._recent[idea_id] = updated_at
            if self._seen_until is None or updated_at > self._seen_until:
                self._seen_until = updated_at
        if self._seen_until is not None:
            # Only rows inside the look-back window can be read again.
            horizon = self._seen_until - CATCH_UP_OVERLAP
            self._recent = {i: at for i, at in self._recent.items() if at >= horizon}

    async def search(
        self,
        name: str,
        description: str,
        limit: int = 3,
        exclude: Sequence[str] = (),
        *,
        session: AsyncSession | None = None,
    ) -> list[SimilarMatch]:
        await self.catch_up(session)
        return await self.index.search(name, description, limit=limit, exclude=exclude)

    def upsert(self, doc_id: str, name: str, description: str) -> None:
        self.index.upsert(doc_id, name, description)

    def remove(self, doc_id: str) -> None:
        self.index.remove(doc_id)


async def build_similarity_index(
    database: Database, stem_cache: Path | None = None
) -> DatabaseSyncedIndex:
    """An index holding every stored idea, rebuilt off the event loop.

    ``stem_cache`` keeps word stems between restarts: stemming is most of a cold rebuild.
    """
    if stem_cache is not None:
        stem_cache.parent.mkdir(parents=True, exist_ok=True)
    synced = DatabaseSyncedIndex(database, SimilarityIndex(stem_cache=stem_cache))
    await synced.rebuild()
    return synced
