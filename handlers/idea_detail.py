"""What an idea's detail shows: in full to its owner and collaborators, in short to anyone else.

The full detail (``/ideku N``) carries the owner's actions while the idea is still open to
change; the short one is what a submitter sees of someone else's idea at the duplicate question.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.choices import choice
from handlers.context import StepContext
from handlers.i18n import Translator
from handlers.messages import Choice, Reply
from handlers.money import format_rupiah
from handlers.notices import long_date
from handlers.text import shorten
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaAttachment,
    IdeaStatus,
    MonitoringReport,
    User,
)
from storage.queries import ideas_by_id

# Until a reviewer has verified it, an idea is its owner's to change or take back.
EDITABLE = (IdeaStatus.SUBMITTED,)
EDIT_ARGS = ("ubah", "edit")
WITHDRAW_ARGS = ("tarik", "withdraw")
PUBLIC_TEXT_CHARS = 300


def owner_may_change(idea: Idea, user: User) -> bool:
    return idea.owner_id == user.id and idea.status in EDITABLE


def owner_actions(t: Translator, idea: Idea) -> tuple[Choice, ...]:
    """Command buttons, so a press from an old message is checked afresh like a typed one."""
    return (
        choice(f"/ideku {idea.id} {EDIT_ARGS[0]}", t("owner.edit_button")),
        choice(f"/ideku {idea.id} {WITHDRAW_ARGS[0]}", t("owner.withdraw_button")),
    )


async def _count(session: AsyncSession, model: type, idea_id: int) -> int:
    column = model.idea_id  # type: ignore[attr-defined]
    return int(await session.scalar(select(func.count()).where(column == idea_id)) or 0)


async def _eviden_count(session: AsyncSession, idea_id: int) -> int:
    query = select(func.count()).where(
        IdeaAttachment.idea_id == idea_id,
        or_(IdeaAttachment.indicator.is_not(None), IdeaAttachment.report_id.is_not(None)),
    )
    return int(await session.scalar(query) or 0)


async def _people(ctx: StepContext, idea: Idea) -> str:
    """The owner first (marked), then the collaborators in the order they joined."""
    t = ctx.t
    ids = [c.user_id for c in sorted(idea.collaborators, key=lambda c: (c.joined_at, c.id))]
    users = {u.id: u for u in await ctx.session.scalars(select(User).where(User.id.in_(ids)))}
    names = []
    if idea.owner is not None:
        names.append(t("detail.owner_mark", name=idea.owner.full_name or "-"))
    names += [users[i].full_name or "-" for i in ids if i in users and i != idea.owner_id]
    return ", ".join(names) or "-"


def _other(t: Translator, idea: Idea | None) -> str:
    """Another idea, by number, name and OPD only: it may belong to another OPD."""
    if idea is None:
        return "-"
    return t(
        "detail.other_idea", id=idea.id, name=idea.name, opd=idea.opd.name if idea.opd else "-"
    )


async def _answered(ctx: StepContext, idea: Idea) -> list[str]:
    """The reviewers' questions already answered, with the answer, who gave it and when."""
    from handlers.clarification import name_of, rounds

    t = ctx.t
    lines = []
    for row in await rounds(ctx, idea.id):
        if row.answered_at is None or row.answer is None:
            continue
        when = long_date(t, row.answered_at.astimezone(ctx.timezone).date())
        lines.append(
            t(
                "detail.clarification_answered",
                question=shorten(row.question, 400),
                answer=shorten(row.answer, 600),
                by=await name_of(ctx, row.answered_by_id),
                date=when,
            )
        )
    return lines


async def detail_text(ctx: StepContext, idea: Idea) -> str:
    t = ctx.t
    lines = [
        t("my_ideas.detail_title", id=idea.id, name=idea.name),
        f"{t('field.stage')}: {t(f'stage.{idea.stage.value}')}",
        f"{t('field.status')}: {t(f'status.{idea.status.value}')}",
    ]
    if idea.status_reason and idea.status is IdeaStatus.REJECTED:
        lines.append(t("detail.rejection_reason", reason=idea.status_reason))
    lines += await _answered(ctx, idea)
    if idea.status_reason and idea.status is IdeaStatus.SUBMITTED:
        lines.append(t("detail.clarification", question=idea.status_reason))
    related = await ideas_by_id(
        ctx.session, [i for i in (idea.merged_into_id, idea.replication_of_id) if i]
    )
    if idea.status is IdeaStatus.MERGED and idea.merged_into_id:
        lines.append(t("detail.merged_into", idea=_other(t, related.get(idea.merged_into_id))))
    lines += [
        f"{t('field.opd')}: {idea.opd.name if idea.opd else '-'}",
        f"{t('detail.people')}: {await _people(ctx, idea)}",
    ]
    if idea.replication_of_id:
        lines.append(f"{t('detail.replicates')}: {_other(t, related.get(idea.replication_of_id))}")
    lines += [
        f"{t('field.problem')}: {shorten(idea.problem, 600)}",
        f"{t('field.idea')}: {shorten(idea.idea, 600)}",
    ]
    if idea.goal:
        lines.append(f"{t('field.goal')}: {shorten(idea.goal, 400)}")
    if idea.budget_estimate is not None:
        lines.append(f"{t('field.budget')}: {format_rupiah(idea.budget_estimate, t.locale)}")
    if idea.launch_date is not None:
        lines.append(f"{t('detail.launch_date')}: {long_date(t, idea.launch_date)}")
    if idea.attachments:
        lines.append(f"{t('field.attachments')}: {len(idea.attachments)}")
    lines.append(
        t(
            "detail.counts",
            plan=await _count(ctx.session, ActionPlanItem, idea.id),
            reports=await _count(ctx.session, MonitoringReport, idea.id),
            eviden=await _eviden_count(ctx.session, idea.id),
        )
    )
    return "\n".join(lines)


async def detail_reply(ctx: StepContext, idea: Idea) -> Reply:
    """The full detail, with the owner's buttons when the idea may still change, and the
    answer button (owner and collaborators) while a reviewer's question waits."""
    from handlers.clarification import answer_button, is_open, may_answer

    text = await detail_text(ctx, idea)
    buttons: tuple[Choice, ...] = ()
    if is_open(idea) and may_answer(idea, ctx.user):
        text += "\n\n" + ctx.t("clarify.detail_hint", id=idea.id)
        buttons = (answer_button(ctx.t, idea.id),)
    if owner_may_change(idea, ctx.user):
        text += "\n\n" + ctx.t("owner.actions_hint", id=idea.id)
        buttons += owner_actions(ctx.t, idea)
    return Reply(text, choices=buttons)


def public_text(t: Translator, idea: Idea) -> str:
    """Someone else's idea as a submitter may see it: no names of people, no contact details."""
    return "\n".join(
        [
            t("my_ideas.detail_title", id=idea.id, name=idea.name),
            f"{t('field.opd')}: {idea.opd.name if idea.opd else '-'}",
            f"{t('field.stage')}: {t(f'stage.{idea.stage.value}')}",
            f"{t('field.status')}: {t(f'status.{idea.status.value}')}",
            f"{t('field.problem')}: {shorten(idea.problem, PUBLIC_TEXT_CHARS)}",
            f"{t('field.idea')}: {shorten(idea.idea, PUBLIC_TEXT_CHARS)}",
        ]
    )
