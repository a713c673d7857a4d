"""Queries for monthly monitoring reports and the eviden that proves IID indicators."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import IdeaAttachment, MonitoringReport


async def report_for(session: AsyncSession, idea_id: int, period: str) -> MonitoringReport | None:
    """The report of ``idea_id`` for ``period`` ("2027-03"), if one was sent."""
    return await session.scalar(
        select(MonitoringReport).where(
            MonitoringReport.idea_id == idea_id, MonitoringReport.period == period
        )
    )


async def reported_ideas(session: AsyncSession, idea_ids: Sequence[int], period: str) -> set[int]:
    """Which of ``idea_ids`` have a report for ``period``."""
    if not idea_ids:
        return set()
    rows = await session.scalars(
        select(MonitoringReport.idea_id).where(
            MonitoringReport.idea_id.in_(list(idea_ids)), MonitoringReport.period == period
        )
    )
    return set(rows)


async def proven_indicators(session: AsyncSession, idea_id: int) -> set[str]:
    """The IID indicators an idea already has eviden for."""
    rows = await session.scalars(
        select(IdeaAttachment.indicator)
        .where(IdeaAttachment.idea_id == idea_id, IdeaAttachment.indicator.is_not(None))
        .distinct()
    )
    return {code for code in rows if code}
