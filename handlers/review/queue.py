"""What a reviewer may see: the queue, one idea, its closest matches; always within their OPDs.

Every lookup goes through :func:`reviewable`, so an idea of another OPD is answered exactly as
an idea that does not exist: the reviewer learns nothing about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, case, func, inspect, select

from handlers.access import load_roles, visible_opds
from handlers.context import StepContext
from storage.idea_filter import apply_filter
from storage.models import (
    Idea,
    IdeaClarification,
    IdeaStatus,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
)
from storage.queries import ideas_by_id

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger number is no idea at all
ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
MATCHES = 3


@dataclass(frozen=True)
class QueueEntry:
    """One line of the queue: light, so a queue of thousands is read in one cheap query."""

    idea_id: int
    name: str
    possible_duplicate: bool  # the submitter was warned and chose to continue
    waiting: bool  # a clarification was asked and the owner has not answered yet
    answered: bool = False  # the owner answered a clarification; the reviewer's turn again


@dataclass(frozen=True)
class Match:
    doc_id: str
    score: float
    idea: Idea | None  # None for a directory entry ("dir:…")


def is_pending(idea: Idea) -> bool:
    """Not reviewed yet: what verify, reject and clarify act on."""
    return idea.status is IdeaStatus.SUBMITTED and idea.reviewed_at is None


def is_active(idea: Idea) -> bool:
    return idea.status in ACTIVE and idea.merged_into_id is None


async def scope(ctx: StepContext) -> frozenset[int] | None:
    """The reviewer's OPDs (None: all). Roles are read here because a step may be asked
    again (after a sticker, a restart) without the engine having read them first."""
    if "roles" in inspect(ctx.user).unloaded:
        await load_roles(ctx.session, ctx.user)
    return visible_opds(ctx.user)


def within(opds: frozenset[int] | None, opd_id: int | None) -> bool:
    """Whether an OPD lies in a scope from :func:`scope` (None: every OPD)."""
    return opds is None or (opd_id is not None and opd_id in opds)


def parse_id(raw: str) -> int | None:
    raw = raw.strip().lstrip("#")
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


async def reviewable(ctx: StepContext, idea_id: object) -> Idea | None:
    """The idea when it exists and lies within the reviewer's OPDs, else None."""
    if not isinstance(idea_id, int) or not 0 < idea_id <= MAX_ID:
        return None
    opds = await scope(ctx)
    idea = await ctx.session.get(Idea, idea_id)
    if idea is None or not within(opds, idea.opd_id):
        return None
    return idea


STATE = ["status", "stage", "merged_into_id", "status_reason", "reviewed_at", "reviewed_by_id"]


async def for_action(ctx: StepContext, idea_id: object) -> Idea | None:
    """Like :func:`reviewable`, for a step about to change the idea: its row is locked and its
    state read again, so two reviewers pressing at once act one after the other and the second
    sees what the first did (SQLite has one writer at a time anyway)."""
    idea = await reviewable(ctx, idea_id)
    if idea is None:
        return None
    await ctx.session.execute(select(Idea.id).where(Idea.id == idea.id).with_for_update())
    await ctx.session.refresh(idea, attribute_names=STATE)
    return idea


async def review_queue(ctx: StepContext) -> list[QueueEntry]:
    """New ideas not reviewed yet; possible duplicates first, then the oldest first, and
    those waiting for their owner's answer last."""
    flagged = (
        select(SimilarityDecision.id)
        .where(
            SimilarityDecision.idea_id == Idea.id,
            SimilarityDecision.decision == SimilarityDecisionKind.CONTINUE,
        )
        .exists()
    )
    answered = (
        select(IdeaClarification.id)
        .where(IdeaClarification.idea_id == Idea.id, IdeaClarification.answered_at.is_not(None))
        .exists()
    )
    duplicate_first = case((flagged, 0), else_=1)
    waiting_last = case((Idea.status_reason.is_(None), 0), else_=1)
    was_answered = case((answered, 1), else_=0)
    pending = cast(
        "Select[Any]",
        select(Idea.id, Idea.name, duplicate_first, waiting_last, was_answered).where(
            Idea.status == IdeaStatus.SUBMITTED, Idea.reviewed_at.is_(None)
        ),
    )
    query = apply_filter(pending, await scope(ctx)).order_by(
        duplicate_first, waiting_last, Idea.created_at, Idea.id
    )
    rows = (await ctx.session.execute(query)).all()
    return [
        QueueEntry(i, name, dup == 0, wait == 1, wait == 0 and done == 1)
        for i, name, dup, wait, done in rows
    ]


async def continued_past(ctx: StepContext, idea: Idea) -> list[tuple[Idea, float]]:
    """The ideas the submitter was warned about and went past, that the reviewer may see."""
    opds = await scope(ctx)
    rows = (
        await ctx.session.execute(
            select(SimilarityDecision.matched_idea_id, SimilarityDecision.score).where(
                SimilarityDecision.idea_id == idea.id,
                SimilarityDecision.decision == SimilarityDecisionKind.CONTINUE,
            )
        )
    ).all()
    found = await ideas_by_id(ctx.session, [i for i, _ in rows if i is not None])
    shown: list[tuple[Idea, float]] = []
    for matched_id, score in rows:
        other = found.get(matched_id) if matched_id is not None else None
        if other is not None and within(opds, other.opd_id):
            shown.append((other, float(score)))
    return shown


async def closest_matches(ctx: StepContext, idea: Idea) -> list[Match]:
    """The index's closest documents, ideas outside the reviewer's OPDs left out."""
    opds = await scope(ctx)
    found = await ctx.similarity.search(
        idea.name,
        idea.description,
        limit=MATCHES,
        exclude=[f"idea:{idea.id}"],
        session=ctx.session,
    )
    ids = [
        int(m.doc_id[5:]) for m in found if m.doc_id.startswith("idea:") and m.doc_id[5:].isdigit()
    ]
    ideas = await ideas_by_id(ctx.session, ids)
    matches: list[Match] = []
    for m in found:
        kind, _, raw = m.doc_id.partition(":")
        if kind == "dir":
            matches.append(Match(m.doc_id, float(m.score), None))
            continue
        other = ideas.get(int(raw)) if raw.isdigit() else None
        if other is not None and is_active(other) and within(opds, other.opd_id):
            matches.append(Match(m.doc_id, float(m.score), other))
    return matches


async def movable_ideas(ctx: StepContext, opd_id: int, stage: Stage) -> list[Idea]:
    """Active ideas of one OPD in one stage, oldest first: what a bulk stage move offers."""
    opds = await scope(ctx)
    if not within(opds, opd_id):
        return []
    active: Select[Any] = select(Idea).where(
        Idea.status.in_(ACTIVE),
        Idea.merged_into_id.is_(None),
        Idea.opd_id == opd_id,
        Idea.stage == stage,
    )
    query = apply_filter(active, opds)
    return list((await ctx.session.scalars(query.order_by(Idea.created_at, Idea.id))).unique())


async def stage_counts(ctx: StepContext) -> dict[int, dict[Stage, int]]:
    """Per OPD within scope, how many active ideas each stage holds."""
    # Typed loosely: apply_filter's signature predates SQLAlchemy 2.1's variadic Select.
    grouped = cast(
        "Select[Any]",
        select(Idea.opd_id, Idea.stage, func.count())
        .where(Idea.status.in_(ACTIVE), Idea.merged_into_id.is_(None), Idea.opd_id.is_not(None))
        .group_by(Idea.opd_id, Idea.stage),
    )
    query = apply_filter(grouped, await scope(ctx))
    counts: dict[int, dict[Stage, int]] = {}
    for opd_id, stage, count in (await ctx.session.execute(query)).all():
        counts.setdefault(int(opd_id), {})[stage] = int(count)
    return counts
