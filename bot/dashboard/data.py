"""What the dashboard reads: the programme figures (storage/figures.py), the idea table
through the one idea filter, one idea's file, and a cheap version of it all for the live poll.

Everything takes the viewer's scope (handlers/access.visible_opds: None for all OPDs) and
never reads beyond it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.figures import ProgrammeFigures, Window, programme_figures
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
    """The figures per (scope, period, version): recomputed only when something changed."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[object, ...], Summary] = OrderedDict()

    async def get(
        self,
        session: AsyncSession,
        scope: frozenset[int] | None,
        now: datetime,
        today: date,
    ) -> Summary:
        current = await version(session)
        period = f"{today:%Y-%m}"
        key = (scope, period, current)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        figures = await programme_figures(
            session,
            scope=scope,
            window=Window.week_before(now),
            period=period,
            launched_by=today,
            overdue_limit=50,
        )
        summary = Summary(current, figures, await recent_reports(session, scope, period))
        self._entries[key] = summary
        while len(self._entries) > _CACHE_SIZE:
            self._entries.popitem(last=False)
        return summary


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
