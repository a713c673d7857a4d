"""At send time: is a scheduled message still wanted? One who did the step gets nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.stage_outputs import MONITORED_STAGE, Output, has_output, output_for
from storage.db import Database
from storage.models import ActionPlanItem, Idea, IdeaStatus, MonitoringReport, Stage
from storage.outbox import Claimed

ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)


async def still_due(database: Database, row: Claimed) -> bool:
    """False when the step a reminder or prompt asks for was done since it was computed."""
    if row.kind not in ("reminder", "monitoring", "follow_up") or row.idea_id is None:
        return True
    parts = row.key.split(":")
    async with database.sessions() as session:
        idea = await session.get(Idea, row.idea_id)
        if idea is None or idea.status not in ACTIVE:
            return False
        if row.kind == "reminder":
            output = output_for(Stage(parts[2]))
            if output is None or idea.stage not in output.idea_stages:
                return False
            items = 0
            if output.output is Output.ACTION_PLAN:
                items = int(
                    await session.scalar(
                        select(func.count())
                        .select_from(ActionPlanItem)
                        .where(ActionPlanItem.idea_id == idea.id)
                    )
                    or 0
                )
            return not has_output(idea, output.output, items)
        if idea.stage is not MONITORED_STAGE:
            return False
        report = await session.scalar(
            select(MonitoringReport.id).where(
                MonitoringReport.idea_id == idea.id, MonitoringReport.period == parts[-1]
            )
        )
        return report is None
