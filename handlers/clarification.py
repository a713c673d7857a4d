"""The owner's answer to a reviewer's clarification question (``/ideku N jawab``).

A reviewer's question (handlers/review/actions.py ``clarify``) opens a round in
``idea_clarifications`` and keeps the idea in the queue, marked as waiting. Its owner or a
collaborator (the people of the idea; a merged idea's former owners know it as well as the
owner does) writes the answer here: it closes every open round, the queue stops waiting, the
audit log keeps question and answer, and each reviewer who asked is told through the outbox.

Reached from the notice's button, the detail's button, or typed. Every step reads the idea
again, so an old button after the answer, a verification or a rejection says so politely.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from handlers.access import Access
from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, end, push, stay, text_problem
from handlers.i18n import DEFAULT_LOCALE, Translator
from handlers.messages import Choice, Delivery, Reply, TemplateCall
from handlers.notices import long_date
from handlers.review.queue import STATE, is_pending
from handlers.text import shorten
from storage.audit import Actor, record
from storage.models import Idea, IdeaClarification, Role, User, UserRole
from storage.queries import can_see_idea, ideas_by_id, preferred_identity

ANSWER_ARGS = ("jawab", "answer")
# The reviewer's notice carries the answer in full: with its header it must fit one message.
MAX_ANSWER_CHARS = 3000
KIND = "clarify_answer"
TEMPLATE = "clarification_answer"
TEMPLATE_ANSWER_CHARS = 300  # a template's body is short; the full answer is in /tinjau N
CANCEL = "cl:cancel"

flow = Flow(name="clarify_answer", first="answer", access=Access.REGISTERED)


def answer_button(t: Translator, idea_id: int) -> Choice:
    """A command button, so a press from an old message is checked afresh like a typed one."""
    return choice(f"/ideku {idea_id} {ANSWER_ARGS[0]}", t("clarify.answer_button"))


def is_open(idea: Idea) -> bool:
    """A question is waiting for the idea's people (the reviewer's text is ``status_reason``
    while it waits)."""
    return is_pending(idea) and idea.status_reason is not None


def may_answer(idea: Idea, user: User) -> bool:
    return can_see_idea(idea, user)


async def rounds(ctx: StepContext, idea_id: int) -> list[IdeaClarification]:
    """Every question asked about the idea, oldest first."""
    query = (
        select(IdeaClarification)
        .where(IdeaClarification.idea_id == idea_id)
        .order_by(IdeaClarification.asked_at, IdeaClarification.id)
    )
    return list(await ctx.session.scalars(query))


async def name_of(ctx: StepContext, user_id: int | None) -> str:
    user = await ctx.session.get(User, user_id) if user_id is not None else None
    return (user.full_name if user else None) or "-"


async def _refusal(ctx: StepContext, idea: Idea | None) -> Reply | None:
    """Why this person cannot answer now, or None when they can."""
    t = ctx.t
    if idea is None or not may_answer(idea, ctx.user):
        # The same answer whether it exists or not: an id says nothing about others' ideas.
        return Reply(t("my_ideas.not_yours"))
    if not is_pending(idea):
        status = t(f"status.{idea.status.value}")
        return Reply(t("clarify.closed", id=idea.id, status=status))
    if idea.status_reason is None:
        answered = [r for r in await rounds(ctx, idea.id) if r.answered_at is not None]
        if not answered:
            return Reply(t("clarify.none", id=idea.id))
        last = answered[-1]
        assert last.answered_at is not None
        when = long_date(t, last.answered_at.astimezone(ctx.timezone).date())
        by = await name_of(ctx, last.answered_by_id)
        return Reply(t("clarify.already_answered", id=idea.id, by=by, date=when))
    return None


async def start(ctx: StepContext, idea_id: int) -> Transition:
    """``/ideku N jawab``: ask for the answer, or say politely why there is nothing to answer."""
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    refusal = await _refusal(ctx, idea)
    if refusal is not None:
        return Transition(say=[refusal])
    assert idea is not None
    return push(flow.new_frame({"idea_id": idea.id}))


async def ask_answer(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea_id = int(frame.data["idea_id"])
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    question = idea.status_reason if idea and idea.status_reason else "-"
    return Reply(
        t(
            "clarify.ask",
            id=idea_id,
            name=idea.name if idea else "-",
            question=shorten(question, 1500),
            limit=t.number(MAX_ANSWER_CHARS),
        ),
        choices=(choice(CANCEL, t("clarify.cancel")),),
    )


async def answer_answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == CANCEL:
        return end(Reply(t("clarify.cancelled", id=frame.data["idea_id"])))
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    text = answer.text.strip()
    if len(text) > MAX_ANSWER_CHARS:
        return stay(
            Reply(
                t(
                    "clarify.too_long",
                    limit=t.number(MAX_ANSWER_CHARS),
                    length=t.number(len(text)),
                )
            )
        )
    idea_id = int(frame.data["idea_id"])
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    if idea is not None:
        # Locked and read again: the owner and a collaborator answering at once, or a reviewer
        # verifying meanwhile, act one after the other and the second sees what the first did.
        await ctx.session.execute(select(Idea.id).where(Idea.id == idea.id).with_for_update())
        await ctx.session.refresh(idea, attribute_names=STATE)
    refusal = await _refusal(ctx, idea)
    if refusal is not None:
        return end(refusal)
    assert idea is not None
    await save_answer(ctx, idea, text)
    from handlers.idea_detail import detail_reply

    return end(Reply(t("clarify.sent", id=idea.id, name=idea.name)), await detail_reply(ctx, idea))


flow.add("answer", ask_answer, answer_answer)


async def save_answer(ctx: StepContext, idea: Idea, text: str) -> None:
    """Close every open round with ``text``, audit it and tell those who asked; in the step's
    transaction, so the answer, its audit row and the notices are committed together."""
    question = idea.status_reason or ""
    open_rounds = [r for r in await rounds(ctx, idea.id) if r.answered_at is None]
    if not open_rounds:
        # Asked before the rounds were recorded: keep the question beside its answer anyway.
        legacy = IdeaClarification(
            idea_id=idea.id, asked_by_id=None, asked_at=idea.updated_at, question=question
        )
        ctx.session.add(legacy)
        open_rounds = [legacy]
    for row in open_rounds:
        row.answer = text
        row.answered_by_id = ctx.user.id
        row.answered_at = ctx.now
    idea.status_reason = None  # no longer waiting
    idea.updated_at = ctx.now
    record(
        ctx.session, Actor.of(ctx.user), "idea.clarify_answer", f"idea:{idea.id}",
        {"question": question}, {"answer": text}, note=text, at=ctx.now,
    )  # fmt: skip
    askers = [r.asked_by_id for r in open_rounds if r.asked_by_id is not None]
    if not askers:
        askers = await _coordinators(ctx, idea)
    await _tell_reviewers(ctx, idea, askers, question, text)


async def _coordinators(ctx: StepContext, idea: Idea) -> list[int]:
    """Whom to tell when nobody is recorded as having asked: the OPD's coordinators."""
    if idea.opd_id is None:
        return []
    rows = await ctx.session.scalars(
        select(UserRole.user_id).where(
            UserRole.role == Role.COORDINATOR, UserRole.opd_id == idea.opd_id
        )
    )
    return list(rows)


async def _tell_reviewers(
    ctx: StepContext, idea: Idea, reviewer_ids: Sequence[int], question: str, text: str
) -> None:
    by = ctx.user.full_name or "-"
    for user_id in dict.fromkeys(reviewer_ids):
        if user_id == ctx.user.id:
            continue
        reviewer = await ctx.session.get(User, user_id)
        identity = await preferred_identity(ctx.session, user_id)
        if reviewer is None or identity is None:
            continue
        t = Translator(reviewer.locale or DEFAULT_LOCALE)
        message = t(
            "clarify.told_answered",
            id=idea.id,
            idea=idea.name,
            by=by,
            question=shorten(question, 500),
            answer=text,
        )
        ctx.deliveries.append(
            Delivery(
                channel=identity.channel,
                external_id=identity.external_id,
                replies=(
                    Reply(message, choices=(choice(f"/tinjau {idea.id}", t("clarify.open_idea")),)),
                ),
                template=TemplateCall(
                    TEMPLATE,
                    (
                        reviewer.full_name or "",
                        idea.name,
                        by,
                        shorten(text, TEMPLATE_ANSWER_CHARS),
                    ),
                ),
                kind=KIND,
                user_id=user_id,
            )
        )
