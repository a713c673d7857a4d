"""What the dashboard reads: the programme figures (storage/figures.py), the idea table
through the one idea filter, one idea's file, and a cheap version of it all for the live poll.

Everything takes the viewer's scope (handlers/access.visible_opds: None for all OPDs) and
never reads beyond it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.figures import ProgrammeFigures, Window, participation_apart, programme_figures
from storage.idea_filter import IdeaFilter, apply_filter
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaAttachment,
    IdeaStatus,
    MonitoringReport,
    Opd,
    SimilarityDecision,
    Stage,
    User,
)

PAGE_SIZE = 50
RECENT_REPORTS = 10
_CACHE_SIZE = 64
# Seconds a poll waits for new figures before serving the last ones. The figures for
# 100,000 ideas take 0.2-0.3 s (bench/bench_dashboard.py), so this is only a safety valve for
# a machine far busier than that: normally every answer is computed from the current data.
FRESH_WAIT = 2.0
# Seconds a summary is served while nothing changed: "this week" and the overdue owners move
# with the clock too, so even an idle programme is recomputed now and then.
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class RecentReport:
    idea_id: int
    idea_name: str
    reporter: str | None
    progress: int
    submitted_at: datetime


@dataclass(frozen=True)
class Summary:
    version: str
    figures: ProgrammeFigures
    recent_reports: tuple[RecentReport, ...]
    computed_at: datetime


@dataclass(frozen=True)
class IdeaRow:
    id: int
    name: str
    opd: str | None
    stage: Stage
    status: IdeaStatus
    is_digital: bool | None
    affair: str | None
    updated_at: datetime


@dataclass(frozen=True)
class IdeaPage:
    rows: tuple[IdeaRow, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class IdeaFile:
    idea: Idea
    plan: tuple[ActionPlanItem, ...]
    reports: tuple[MonitoringReport, ...]
    eviden: tuple[IdeaAttachment, ...]


async def version(session: AsyncSession) -> str:
    """Changes whenever an idea, report, eviden file, plan item or duplicate decision does:
    a handful of MAX/COUNT lookups, most on indexed columns, so the poll stays cheap."""
    parts = (
        select(func.count()).select_from(Idea),
        select(func.max(Idea.updated_at)),
        select(func.max(MonitoringReport.id)),
        select(func.max(MonitoringReport.updated_at)),
        select(func.max(IdeaAttachment.id)),
        select(func.max(ActionPlanItem.updated_at)),
        select(func.max(SimilarityDecision.id)),
    )
    row = (await session.execute(select(*(p.scalar_subquery() for p in parts)))).one()
    joined = "|".join("" if v is None else str(v) for v in row)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


class SummaryCache:
    """The figures per (scope, period), kept for ``CACHE_SECONDS`` while the version holds.

    A poll that finds them outdated (the data changed, or they are older than that) starts
    one recomputation in a worker thread and waits for it; only past ``FRESH_WAIT`` (a machine
    far busier than the bench's) does it serve the previous figures, marked with their own
    version, so the next poll gets the new ones.
    """

    def __init__(self, database: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self.clock = clock
        self._entries: OrderedDict[tuple[object, ...], tuple[float, Summary]] = OrderedDict()
        self._running: dict[tuple[object, ...], asyncio.Task[Summary]] = {}

    async def get(self, scope: frozenset[int] | None, now: datetime, today: date) -> Summary:
        async with self.database.sessions() as session:
            current = await version(session)
        period = f"{today:%Y-%m}"
        key: tuple[object, ...] = (scope, period)
        entry = self._entries.get(key)
        found = None if entry is None else entry[1]
        if (
            entry is not None
            and entry[1].version == current
            and self.clock() - entry[0] < CACHE_SECONDS
        ):
            self._entries.move_to_end(key)
            return entry[1]
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._compute(key, scope, now, today, current))
            self._running[key] = task
        if found is None:
            return await asyncio.shield(task)
        done, _ = await asyncio.wait({task}, timeout=FRESH_WAIT)
        return task.result() if done else found

    async def close(self) -> None:
        """Stop recomputations in flight (the server is shutting down)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _compute(
        self,
        key: tuple[object, ...],
        scope: frozenset[int] | None,
        now: datetime,
        today: date,
        current: str,
    ) -> Summary:
        try:
            # In a thread, on its own loop and connection: SQLite's statements run on the
            # calling loop's thread (storage/sqlite_inline.py), so computed here they would
            # hold every other request for the whole second; there they hold nobody.
            figures, recent = await asyncio.to_thread(
                asyncio.run, _figures(self.database.url, scope, now, today)
            )
            summary = Summary(current, figures, recent, now)
            self._entries[key] = (self.clock(), summary)
            self._entries.move_to_end(key)
            while len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)
            return summary
        finally:
            self._running.pop(key, None)


async def _figures(
    url: str, scope: frozenset[int] | None, now: datetime, today: date
) -> tuple[ProgrammeFigures, tuple[RecentReport, ...]]:
    period = f"{today:%Y-%m}"
    database = Database(url)
    try:
        async with database.sessions() as session:
            figures = await programme_figures(
                session,
                scope=scope,
                window=Window.week_before(now),
                period=period,
                launched_by=today,
                overdue_limit=50,
                apart=participation_apart(database),
            )
            return figures, await recent_reports(session, scope, period)
    finally:
        await database.dispose()


async def recent_reports(
    session: AsyncSession, scope: frozenset[int] | None, period: str
) -> tuple[RecentReport, ...]:
    query = apply_filter(
        select(
            Idea.id,
            Idea.name,
            User.full_name,
            MonitoringReport.progress,
            MonitoringReport.submitted_at,
        )
        .select_from(MonitoringReport)
        .join(Idea, Idea.id == MonitoringReport.idea_id)
        .outerjoin(User, User.id == MonitoringReport.reporter_id)
        .where(MonitoringReport.period == period)
        .order_by(MonitoringReport.submitted_at.desc(), MonitoringReport.id.desc())
        .limit(RECENT_REPORTS),
        scope,
    )
    return tuple(RecentReport(*row) for row in (await session.execute(query)).all())


async def idea_page(
    session: AsyncSession, scope: frozenset[int] | None, wanted: IdeaFilter, page: int
) -> IdeaPage:
    total = int(
        await session.scalar(apply_filter(select(func.count()).select_from(Idea), scope, wanted))
        or 0
    )
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    query = apply_filter(
        select(
            Idea.id,
            Idea.name,
            Opd.short_name,
            Idea.stage,
            Idea.status,
            Idea.is_digital,
            Idea.affair,
            Idea.updated_at,
        )
        .select_from(Idea)
        .outerjoin(Opd, Opd.id == Idea.opd_id)
        .order_by(Idea.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE),
        scope,
        wanted,
    )
    rows = tuple(IdeaRow(*row) for row in (await session.execute(query)).all())
    return IdeaPage(rows, total, page, pages)


async def idea_file(
    session: AsyncSession, scope: frozenset[int] | None, idea_id: int
) -> IdeaFile | None:
    """One idea with its plan, reports and eviden; None when absent or outside the scope
    (the same answer, so a URL reveals nothing about another OPD)."""
    idea = await session.scalar(apply_filter(select(Idea).where(Idea.id == idea_id), scope))
    if idea is None:
        return None
    plan = await session.scalars(
        select(ActionPlanItem)
        .where(ActionPlanItem.idea_id == idea_id)
        .order_by(ActionPlanItem.month, ActionPlanItem.id)
    )
    reports = await session.scalars(
        select(MonitoringReport)
        .where(MonitoringReport.idea_id == idea_id)
        .order_by(MonitoringReport.period.desc(), MonitoringReport.id.desc())
    )
    eviden = await session.scalars(
        select(IdeaAttachment)
        .where(IdeaAttachment.idea_id == idea_id)
        .order_by(IdeaAttachment.indicator, IdeaAttachment.id)
    )
    return IdeaFile(idea, tuple(plan), tuple(reports), tuple(eviden))


async def opd_choices(session: AsyncSession, scope: frozenset[int] | None) -> Sequence[Opd]:
    query = select(Opd).order_by(Opd.name)
    if scope is not None:
        query = query.where(Opd.id.in_(sorted(scope)))
    return list(await session.scalars(query))
