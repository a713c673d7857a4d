"""Moving an idea to another 5D stage, and telling its people through the outbox.

The move and the outbox rows are written in the caller's transaction: either both happen
or neither. The running bot's outbox sender delivers the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from babel.dates import format_date
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Translator
from handlers.messages import Reply, TemplateCall, outbox_payload
from handlers.stage_outputs import (
    MONITORED_STAGE,
    REPORT_COMMAND,
    deadline,
    has_output,
    output_for,
)
from storage.models import ActionPlanItem, Idea, Programme, Stage, User
from storage.outbox import NewMessage, add_messages
from storage.programmes import current_programme
from storage.queries import preferred_identity

STAGE_MESSAGE_PRIORITY = 3


@dataclass(frozen=True)
class Told:
    user_id: int
    name: str
    channel: str


@dataclass
class StageMove:
    """What a move did: whom it told, whom it could not reach."""

    idea_id: int
    idea_name: str
    old: Stage
    new: Stage
    told: list[Told] = field(default_factory=list)
    unreachable: list[tuple[int, str]] = field(default_factory=list)  # (user id, name)


def stage_message(
    t: Translator,
    idea: Idea,
    stage: Stage,
    programme: Programme | None,
    action_plan_items: int,
    today: date,
) -> str:
    """The text a person reads: the idea, its new stage, and what is due by when."""
    label = t(f"stage.{stage.value}")
    parts = [t("stagemove.moved", idea=idea.name, stage=label)]
    output = output_for(stage)
    if output is not None and not has_output(idea, output.output, action_plan_items):
        due = deadline(programme, output) if programme is not None else None
        if due is not None and due >= today:
            when = format_date(due, format="long", locale=t.locale)
            parts.append(
                t(f"stagemove.due.{output.output.value}", deadline=when, command=output.command)
            )
        else:  # no programme dates, or the deadline has passed: as soon as possible
            parts.append(t(f"stagemove.asap.{output.output.value}", command=output.command))
    if stage is MONITORED_STAGE:
        parts.append(t("stagemove.monitoring", stage=label, command=REPORT_COMMAND))
    return " ".join(parts)


async def move_idea(
    session: AsyncSession,
    idea: Idea,
    stage: Stage,
    now: datetime,
    today: date,
    default_locale: str,
) -> StageMove:
    """Move ``idea`` to ``stage`` and add an outbox row for its owner and each collaborator
    who has a reachable identity. ``today`` is the Pemda's local date at ``now``."""
    move = StageMove(idea.id, idea.name, idea.stage, stage)
    idea.stage = stage
    idea.updated_at = now
    programme = (
        await session.get(Programme, idea.programme_id)
        if idea.programme_id is not None
        else await current_programme(session, today)
    )
    plan_items = await session.scalar(
        select(func.count()).select_from(ActionPlanItem).where(ActionPlanItem.idea_id == idea.id)
    )
    people = [idea.owner_id] if idea.owner_id is not None else []
    people += [c.user_id for c in idea.collaborators if c.user_id not in people]
    messages: list[NewMessage] = []
    for user_id in people:
        user = await session.get(User, user_id)
        name = (user.full_name if user else None) or f"user #{user_id}"
        identity = await preferred_identity(session, user_id)
        if identity is None:
            move.unreachable.append((user_id, name))
            continue
        t = Translator((user.locale if user else None) or default_locale)
        text = stage_message(t, idea, stage, programme, int(plan_items or 0), today)
        messages.append(
            NewMessage(
                key=f"stage:{idea.id}:{stage.value}:{user_id}:{now.isoformat()}",
                kind="stage_change",
                channel=identity.channel,
                recipient=identity.external_id,
                payload=outbox_payload(
                    [Reply(text)],
                    # WhatsApp's window may be closed: then this approved template goes.
                    TemplateCall(
                        "stage_change",
                        (name, idea.name, t(f"stage.{stage.value}")),
                    ),
                ),
                due_at=now,
                user_id=user_id,
                idea_id=idea.id,
                priority=STAGE_MESSAGE_PRIORITY,
                # A notice, not a reply: it waits for working time like the reminders.
                working_time=True,
            )
        )
        move.told.append(Told(user_id, name, identity.channel))
    await add_messages(session, messages)
    return move
