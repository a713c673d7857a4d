"""The index catches up on ideas other processes saved through the step's own connection.

A step holds a connection while it asks the index; had the catch-up asked the pool for a
second one, a burst of steps holding every connection would wait for each other until the
pool's timeout (seen in the replicas' load test as a minute-long stall).
"""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from sqlalchemy import select

import storage.db
from bot.similarity_loader import build_similarity_index
from storage.db import Database
from tests.chat import ChatDriver
from tests.review_world import add_idea, build_review_world

NAME = "SAMPAH JADI SEMBAKO"
PROBLEM = "Sampah plastik menumpuk di pasar tradisional dan selokan tersumbat"
IDEA = "Pedagang pasar menabung sampah plastik di bank sampah dan menukarnya dengan sembako"


async def test_a_step_sees_another_process_idea_through_its_only_connection(
    chat: ChatDriver, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_review_world(chat)
    # This process: a pool of exactly one connection (PostgreSQL; SQLite has no pool to
    # exhaust, and the step's connection is used all the same).
    monkeypatch.setattr(storage.db, "PG_POOL_SIZE", 1)
    monkeypatch.setattr(storage.db, "PG_MAX_OVERFLOW", 0)
    monkeypatch.setattr(storage.db, "PG_POOL_TIMEOUT", 1.0)
    narrow = Database(database_url)
    try:
        index = await build_similarity_index(narrow)
        # Another process (the chat's core, its own pool) saves an idea afterwards.
        saved = await add_idea(world.world, "admin", "Dinkes", NAME, PROBLEM, IDEA)

        async with narrow.sessions() as session, session.begin():
            await session.execute(select(1))  # the step holds the pool's only connection
            found = await index.search(NAME, f"{PROBLEM}\n{IDEA}", session=session)
            assert [m.doc_id for m in found][:1] == [f"idea:{saved}"]

            if not narrow.is_sqlite:
                # Without the step's session the look needs a second connection: none comes.
                with pytest.raises(sqlalchemy.exc.TimeoutError):
                    await index.catch_up()
    finally:
        await narrow.engine.dispose()
