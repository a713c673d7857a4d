"""At send time: is a scheduled message still wanted, and what does it say?

The scheduler records what is due (the facts: which idea, which output, which deadline or
month); the words are composed here, just before sending, in the person's language of the
moment. A reminder for a step done meanwhile, or a prompt for a month already reported, is
not sent at all: one who did the step gets nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Translator
from handlers.indicators import missing_indicators
from handlers.messages import Reply, TemplateCall
from handlers.notices import (
    Notice,
    monitoring_escalation,
    monitoring_follow_up,
    monitoring_prompt,
    stage_reminder,
)
from handlers.stage_outputs import MONITORED_STAGE, Output, has_output, output_for
from storage.db import Database
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaAttachment,
    IdeaStatus,
    MonitoringReport,
    Opd,
    Stage,
    User,
)
from storage.outbox import Claimed

ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
Composed = tuple[list[Reply], TemplateCall | None]


class NoticeComposer:
    def __init__(self, database: Database, default_locale: str) -> None:
        self.database = database
        self.default_locale = default_locale

    async def compose(self, row: Claimed) -> Composed | None:
        """The replies and template of a scheduled row; None when it is no longer due."""
        spec: dict[str, Any] = row.payload["notice"]
        async with self.database.sessions() as session:
            person = await session.get(User, row.user_id) if row.user_id else None
            if person is None:
                return None
            t = Translator(person.locale or self.default_locale)
            name = person.full_name or ""
            kind = spec["kind"]
            if kind == "escalation":
                notice = await self._escalation(session, t, name, spec)
            else:
                notice = await self._about_idea(session, t, name, row.idea_id, spec)
        if notice is None:
            return None
        return list(notice.replies), notice.template

    async def _about_idea(
        self,
        session: AsyncSession,
        t: Translator,
        name: str,
        idea_id: int | None,
        spec: dict[str, Any],
    ) -> Notice | None:
        idea = await session.get(Idea, idea_id) if idea_id else None
        if idea is None or idea.status not in ACTIVE:
            return None
        if spec["kind"] == "reminder":
            output = output_for(Stage(spec["stage"]))
            if output is None or idea.stage not in output.idea_stages:
                return None
            items = 0
            if output.output is Output.ACTION_PLAN:
                items = await _count(session, ActionPlanItem.idea_id == idea.id, ActionPlanItem)
            if has_output(idea, output.output, items):
                return None
            return stage_reminder(
                t,
                person=name,
                idea_id=idea.id,
                idea_name=idea.name,
                output=output,
                deadline=date.fromisoformat(spec["deadline"]),
                days_before=int(spec["days"]),
            )
        period = str(spec["period"])
        if idea.stage is not MONITORED_STAGE or await _reported(session, idea.id, period):
            return None
        if spec["kind"] == "follow_up":
            return monitoring_follow_up(
                t, person=name, idea_id=idea.id, idea_name=idea.name, period=period
            )
        proven = set(
            await session.scalars(
                select(IdeaAttachment.indicator).where(
                    IdeaAttachment.idea_id == idea.id, IdeaAttachment.indicator.is_not(None)
                )
            )
        )
        return monitoring_prompt(
            t,
            person=name,
            idea_id=idea.id,
            idea_name=idea.name,
            period=period,
            missing=missing_indicators({str(p) for p in proven}),
        )

    async def _escalation(
        self, session: AsyncSession, t: Translator, name: str, spec: dict[str, Any]
    ) -> Notice | None:
        period = str(spec["period"])
        overdue: list[tuple[int, str, str]] = []
        for idea_id in spec["ideas"]:
            idea = await session.get(Idea, int(idea_id))
            if (
                idea is None
                or idea.status not in ACTIVE
                or idea.stage is not MONITORED_STAGE
                or await _reported(session, idea.id, period)
            ):
                continue
            owner = idea.owner.full_name if idea.owner is not None else ""
            overdue.append((idea.id, idea.name, owner or ""))
        if not overdue:
            return None
        opd = await session.get(Opd, int(spec["opd_id"]))
        return monitoring_escalation(
            t, coordinator=name, opd=opd.name if opd else "-", period=period, overdue=overdue
        )


async def _reported(session: AsyncSession, idea_id: int, period: str) -> bool:
    found = await session.scalar(
        select(MonitoringReport.id).where(
            MonitoringReport.idea_id == idea_id, MonitoringReport.period == period
        )
    )
    return found is not None


async def _count(session: AsyncSession, condition: Any, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(condition)) or 0)
