"""Queries for the rencana aksi (milestones by month) of ideas."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionPlanItem


async def plan_of(session: AsyncSession, idea_id: int) -> list[ActionPlanItem]:
    """An idea's milestones, by month then in the order they were added."""
    rows = await session.scalars(
        select(ActionPlanItem)
        .where(ActionPlanItem.idea_id == idea_id)
        .order_by(ActionPlanItem.month, ActionPlanItem.id)
    )
    return list(rows)


async def plan_item(session: AsyncSession, idea_id: int, item_id: int) -> ActionPlanItem | None:
    """One milestone, only if it belongs to ``idea_id``."""
    return await session.scalar(
        select(ActionPlanItem).where(
            ActionPlanItem.id == item_id, ActionPlanItem.idea_id == idea_id
        )
    )


async def plan_sizes(session: AsyncSession, idea_ids: Sequence[int]) -> dict[int, int]:
    """How many milestones each idea has (ideas without any are left out)."""
    if not idea_ids:
        return {}
    rows = await session.execute(
        select(ActionPlanItem.idea_id, func.count())
        .where(ActionPlanItem.idea_id.in_(list(idea_ids)))
        .group_by(ActionPlanItem.idea_id)
    )
    return {int(idea_id): int(count) for idea_id, count in rows}
