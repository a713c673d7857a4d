"""What a reviewer does to an idea: each change, its audit entry and its notices, together.

Every function runs in the step's transaction, so the change, the audit row and the outbox
rows are committed together or not at all. The caller has checked scope and state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from handlers.context import StepContext
from handlers.i18n import DEFAULT_LOCALE
from handlers.messages import TemplateCall
from handlers.review.notices import people_of, tell
from handlers.stage_move import StageMove, move_idea
from handlers.text import shorten
from storage.audit import Actor, record
from storage.models import Idea, IdeaClarification, IdeaCollaborator, IdeaStatus, Stage

CLARIFY_KIND = "clarify_request"
CLARIFY_TEMPLATE = "clarification_request"


def snapshot(idea: Idea) -> dict[str, Any]:
    """What the audit log keeps of an idea before and after a review action."""
    return {
        "status": idea.status.value,
        "stage": idea.stage.value,
        "merged_into": idea.merged_into_id,
    }


def _reviewed(ctx: StepContext, idea: Idea, status: IdeaStatus, reason: str | None) -> None:
    idea.status = status
    idea.status_reason = reason
    idea.reviewed_at = ctx.now
    idea.reviewed_by_id = ctx.user.id
    idea.updated_at = ctx.now


async def verify(ctx: StepContext, idea: Idea) -> None:
    before = snapshot(idea)
    _reviewed(ctx, idea, IdeaStatus.VERIFIED, None)
    record(
        ctx.session, Actor.of(ctx.user), "review.verify", f"idea:{idea.id}",
        before, snapshot(idea), at=ctx.now,
    )  # fmt: skip
    await tell(ctx, idea, people_of(idea), "review.told_verified", "review.outcome.verified")


async def reject(ctx: StepContext, idea: Idea, reason: str) -> None:
    before = snapshot(idea)
    _reviewed(ctx, idea, IdeaStatus.REJECTED, reason)
    record(
        ctx.session, Actor.of(ctx.user), "review.reject", f"idea:{idea.id}",
        before, snapshot(idea), note=reason, at=ctx.now,
    )  # fmt: skip
    await tell(
        ctx, idea, people_of(idea), "review.told_rejected", "review.outcome.rejected",
        reason=reason,
    )  # fmt: skip


async def clarify(ctx: StepContext, idea: Idea, question: str) -> None:
    """The idea stays in the queue (not reviewed), marked as waiting for its owner, until its
    owner answers (handlers/clarification.py)."""
    before = snapshot(idea)
    idea.status_reason = question
    idea.updated_at = ctx.now
    ctx.session.add(
        IdeaClarification(
            idea_id=idea.id, asked_by_id=ctx.user.id, asked_at=ctx.now, question=question
        )
    )
    record(
        ctx.session, Actor.of(ctx.user), "review.clarify", f"idea:{idea.id}",
        before, snapshot(idea), note=question, at=ctx.now,
    )  # fmt: skip
    # Imported here: the owner's side imports the review queue, which imports this module.
    from handlers.clarification import answer_button

    owner = [idea.owner_id] if idea.owner_id is not None else []
    by = ctx.user.full_name or ""
    await tell(
        ctx, idea, owner, "review.told_clarify", "review.outcome.clarify",
        choices=lambda t: (answer_button(t, idea.id),),
        template=lambda t, user: TemplateCall(
            CLARIFY_TEMPLATE,
            (user.full_name or "", idea.name, by, shorten(question, 300), str(idea.id)),
        ),
        kind=CLARIFY_KIND, question=question,
    )  # fmt: skip


async def merge(ctx: StepContext, idea: Idea, target: Idea) -> list[int]:
    """Merge ``idea`` into ``target``: its people join the target as collaborators, its rows
    (reports, files, decisions) stay where they are, and ideas merged into it before now point
    to the target. Returns the user ids added as collaborators."""
    before = snapshot(idea)
    people = people_of(idea)
    _reviewed(ctx, idea, IdeaStatus.MERGED, None)
    idea.merged_into_id = target.id
    present = set(
        await ctx.session.scalars(
            select(IdeaCollaborator.user_id).where(IdeaCollaborator.idea_id == target.id)
        )
    )
    added = [p for p in people if p != target.owner_id and p not in present]
    for user_id in added:
        ctx.session.add(IdeaCollaborator(idea_id=target.id, user_id=user_id, joined_at=ctx.now))
    # No chains: whoever follows an idea merged into this one lands on the survivor.
    await ctx.session.execute(
        update(Idea).where(Idea.merged_into_id == idea.id).values(merged_into_id=target.id)
    )
    target.updated_at = ctx.now
    record(
        ctx.session, Actor.of(ctx.user), "review.merge", f"idea:{idea.id}",
        before, {**snapshot(idea), "collaborators_added": added}, at=ctx.now,
    )  # fmt: skip
    await tell(
        ctx, idea, people, "review.told_merged", "review.outcome.merged",
        target_id=target.id, target=target.name,
    )  # fmt: skip
    doc_id = f"idea:{idea.id}"
    # The index forgets the idea only once the merge is really stored.
    ctx.after_commit.append(lambda: ctx.similarity.remove(doc_id))
    return added


async def move_stage(ctx: StepContext, idea: Idea, stage: Stage) -> StageMove:
    """Move to ``stage`` and tell the idea's people (the same notice as the CLI's)."""
    before = snapshot(idea)
    today = ctx.now.astimezone(ctx.timezone).date()
    moved = await move_idea(ctx.session, idea, stage, ctx.now, today, DEFAULT_LOCALE)
    record(
        ctx.session, Actor.of(ctx.user), "review.stage", f"idea:{idea.id}",
        before, snapshot(idea), at=ctx.now,
    )  # fmt: skip
    return moved
