"""Builds the near-duplicate index from the database at start-up."""

from __future__ import annotations

import asyncio

from bot.similarity import SimilarityIndex
from storage.db import Database
from storage.queries import all_idea_documents


async def build_similarity_index(database: Database) -> SimilarityIndex:
    """An index holding every stored idea, rebuilt off the event loop."""
    async with database.sessions() as session:
        documents = await all_idea_documents(session)
    index = SimilarityIndex()
    await asyncio.to_thread(index.rebuild, documents)
    return index
