"""The dashboard's summary cache: the current data's figures on every answer, kept only while
the data is unchanged and for at most CACHE_SECONDS."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from bot.app import Core
from bot.dashboard.data import CACHE_SECONDS, SummaryCache, version
from storage.models import Idea
from tests.figures_fixture import seed

NOW = datetime(2027, 3, 22, 0, 30, tzinfo=UTC)


async def test_answers_follow_the_data_and_expire(core: Core) -> None:
    await seed(core.database)
    ticks = [1000.0]
    cache = SummaryCache(core.database, clock=lambda: ticks[0])
    try:
        first = await cache.get(None, NOW, NOW.date())
        assert await cache.get(None, NOW, NOW.date()) is first  # unchanged: from the cache

        database = core.database
        async with database.writing(), database.sessions() as session, session.begin():
            await session.execute(
                update(Idea).where(Idea.id == 1).values(name="Nama baru", updated_at=NOW)
            )
        changed = await cache.get(None, NOW, NOW.date())
        async with core.database.sessions() as session:
            assert changed.version == await version(session) != first.version

        ticks[0] += CACHE_SECONDS - 1
        assert await cache.get(None, NOW, NOW.date()) is changed
        ticks[0] += 2  # older than CACHE_SECONDS: computed again, same data
        later = await cache.get(None, NOW, NOW.date())
        assert later is not changed and later.version == changed.version
        assert later.figures.total_ideas == changed.figures.total_ideas
    finally:
        await cache.close()
