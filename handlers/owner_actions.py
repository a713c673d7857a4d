"""The owner's side of an idea: edit a field or withdraw it, until a reviewer has verified it.

Reached from the buttons under ``/ideku N`` (``/ideku N ubah``, ``/ideku N tarik``). Every step
that changes something checks owner and status again, and the change itself is a conditional
UPDATE, so a button from an old message, or a reviewer acting at the same moment, cannot edit
an idea that is no longer open to change.

Editing reuses the intake's own steps (questions, validators, option lists): the idea's current
values are put in the frame in the draft's form, the intake step answers as when a submitter
edits a draft, and its "back to the summary" becomes this flow's confirmation.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from handlers import intake
from handlers.access import Access
from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, choose_option, end, goto, push, stay
from handlers.i18n import Translator
from handlers.idea_detail import EDITABLE, detail_reply, owner_may_change
from handlers.idea_fields import TEXT_LIMITS
from handlers.messages import Delivery, Reply, TemplateCall
from handlers.text import shorten
from storage.audit import Actor, record
from storage.models import Idea, IdeaStatus, Role, User, UserRole
from storage.queries import can_see_idea, ideas_by_id, preferred_identity

# The draft's key → the idea's column. The OPD is left out on purpose: moving an idea to
# another OPD changes who reviews it, which is the reviewers' call.
EDITABLE_FIELDS = {
    "name": "name",
    "problem": "problem",
    "idea": "idea",
    "goal": "goal",
    "benefit": "benefit",
    "budget": "budget_estimate",
    "digital": "is_digital",
    "form": "form",
    "affair": "affair",
}
INDEXED_FIELDS = ("name", "problem", "idea")  # what the near-duplicate engine compares
# The intake's helper keys for multi-turn questions (search, paging, an ambiguous amount).
_AUX_KEYS = ("affair_query", "affair_page", "budget_readings", "budget_typed")

edit_flow = Flow(name="idea_edit", first="choose", access=Access.REGISTERED)
withdraw_flow = Flow(name="idea_withdraw", first="confirm", access=Access.REGISTERED)


# -- who may act -----------------------------------------------------------------------------


async def _open_idea(ctx: StepContext, idea_id: int) -> tuple[Idea | None, Reply | None]:
    """The idea when the person may change it now; otherwise the polite reason why not."""
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    if idea is None or not can_see_idea(idea, ctx.user):
        # The same answer whether it exists or not: an id says nothing about others' ideas.
        return None, Reply(ctx.t("my_ideas.not_yours"))
    if idea.owner_id != ctx.user.id:
        return None, Reply(ctx.t("owner.only_owner", id=idea.id))
    if idea.status not in EDITABLE:
        status = ctx.t(f"status.{idea.status.value}")
        return None, Reply(ctx.t("owner.locked", id=idea.id, status=status))
    return idea, None


async def _change(ctx: StepContext, idea_id: int, values: dict[str, Any]) -> bool:
    """Write ``values`` only if the idea is still the person's and still open; True if written."""
    result = await ctx.session.execute(
        update(Idea)
        .where(Idea.id == idea_id, Idea.owner_id == ctx.user.id, Idea.status.in_(EDITABLE))
        .values(**values, updated_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def start(ctx: StepContext, idea_id: int, action: str) -> Transition:
    """``/ideku N ubah`` / ``/ideku N tarik``: open the flow, or say why it cannot be done."""
    idea, refusal = await _open_idea(ctx, idea_id)
    if refusal is not None:
        return Transition(say=[refusal])
    assert idea is not None
    if action == "edit":
        return push(edit_flow.new_frame({"idea_id": idea.id}))
    return push(withdraw_flow.new_frame({"idea_id": idea.id}))


# -- editing ---------------------------------------------------------------------------------


def _draft_value(idea: Idea, field: str) -> Any:
    return getattr(idea, EDITABLE_FIELDS[field])


def _shown(t: Translator, field: str, value: Any) -> str:
    # Cut like the intake's summary: before and after of a 4,000-character problem must
    # still fit one message.
    shown = intake.shown_value(t, field, {field: value}) or t("intake.not_filled")
    return shorten(shown, intake.SUMMARY_FIELD_CHARS)


async def ask_choose(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    choices = [choice(f"oedit:{f}", t(f"field.{f}")) for f in EDITABLE_FIELDS]
    choices.append(choice("oedit:cancel", t("owner.cancel")))
    return Reply(t("owner.ask_field", id=frame.data["idea_id"]), choices=tuple(choices))


async def answer_choose(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "oedit:cancel":
        return end(Reply(ctx.t("owner.edit_cancelled")))
    field = (answer.choice or "").removeprefix("oedit:")
    if answer.choice is None or field not in EDITABLE_FIELDS:
        return stay(choose_option(ctx, answer))
    idea, refusal = await _open_idea(ctx, int(frame.data["idea_id"]))
    if refusal is not None:
        return end(refusal)
    assert idea is not None
    for key in (*EDITABLE_FIELDS, *_AUX_KEYS):
        frame.data.pop(key, None)
    value = _draft_value(idea, field)
    # "editing" makes the intake step return to its summary, which here is "confirm".
    frame.data.update({"field": field, field: value, "before": value, "editing": True})
    return goto(field)


def _edit_step(field: str) -> None:
    inner = intake.flow.steps[field]

    async def ask(ctx: StepContext, frame: Frame) -> Reply:
        reply = await inner.ask(ctx, frame)
        if field in TEXT_LIMITS:
            return reply  # the intake's question already shows the current value
        current = _shown(ctx.t, field, frame.data.get("before"))
        text = reply.text + "\n\n" + ctx.t("intake.current_value", value=current)
        return Reply(text, choices=reply.choices, file=reply.file)

    async def answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        transition = await inner.answer(ctx, frame, answer)
        if transition.end or transition.push is not None or transition.fallthrough:
            return stay(*transition.say)  # nothing of the intake's own ending applies here
        if transition.goto is not None:
            transition.goto = "confirm"
        return transition

    edit_flow.add(field, ask, answer)


for _field in EDITABLE_FIELDS:
    _edit_step(_field)


async def ask_confirm_edit(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    field = str(frame.data["field"])
    return Reply(
        t(
            "owner.edit_confirm",
            id=frame.data["idea_id"],
            field=t(f"field.{field}"),
            before=_shown(t, field, frame.data.get("before")),
            after=_shown(t, field, frame.data.get(field)),
        ),
        choices=(
            choice("oedit:save", t("owner.save")),
            choice("oedit:again", t("owner.edit_again")),
            choice("oedit:cancel", t("owner.cancel")),
        ),
    )


async def answer_confirm_edit(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "oedit:cancel":
        return end(Reply(t("owner.edit_cancelled")))
    if answer.choice == "oedit:again":
        return goto("choose")
    if answer.choice != "oedit:save":
        return stay(choose_option(ctx, answer))
    idea_id = int(frame.data["idea_id"])
    field = str(frame.data["field"])
    idea, refusal = await _open_idea(ctx, idea_id)
    if refusal is not None:
        return end(refusal)
    assert idea is not None
    before, after = _draft_value(idea, field), frame.data.get(field)
    if before == after:
        return end(Reply(t("owner.unchanged")))
    if not await _change(ctx, idea_id, {EDITABLE_FIELDS[field]: after}):
        return end(Reply(t("owner.changed_meanwhile")))
    record(
        ctx.session,
        Actor.of(ctx.user),
        "idea.edit",
        f"idea:{idea_id}",
        before={field: before},
        after={field: after},
        at=ctx.now,
    )
    await ctx.session.refresh(idea)
    if field in INDEXED_FIELDS:
        doc_id, name, description = f"idea:{idea.id}", idea.name, idea.description
        # The index learns the new text only once it is really stored.
        ctx.after_commit.append(lambda: ctx.similarity.upsert(doc_id, name, description))
    return end(Reply(t("owner.saved", field=t(f"field.{field}"))), await detail_reply(ctx, idea))


edit_flow.add("choose", ask_choose, answer_choose)
edit_flow.add("confirm", ask_confirm_edit, answer_confirm_edit)


# -- withdrawing -----------------------------------------------------------------------------


async def ask_withdraw(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea_id = int(frame.data["idea_id"])
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    return Reply(
        t("owner.withdraw_confirm", id=idea_id, name=idea.name if idea else ""),
        choices=(
            choice("owithdraw:yes", t("owner.withdraw_yes")),
            choice("owithdraw:no", t("owner.withdraw_no")),
        ),
    )


async def answer_withdraw(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "owithdraw:no":
        return end(Reply(t("owner.withdraw_kept")))
    if answer.choice != "owithdraw:yes":
        return stay(choose_option(ctx, answer))
    idea_id = int(frame.data["idea_id"])
    idea, refusal = await _open_idea(ctx, idea_id)
    if refusal is not None:
        return end(refusal)
    assert idea is not None
    before = idea.status.value
    if not await _change(ctx, idea_id, {"status": IdeaStatus.WITHDRAWN}):
        return end(Reply(t("owner.changed_meanwhile")))
    record(
        ctx.session,
        Actor.of(ctx.user),
        "idea.withdraw",
        f"idea:{idea_id}",
        before={"status": before},
        after={"status": IdeaStatus.WITHDRAWN.value},
        at=ctx.now,
    )
    doc_id = f"idea:{idea_id}"
    # Out of the index only once the withdrawal is stored: a failed commit keeps it findable.
    ctx.after_commit.append(lambda: ctx.similarity.remove(doc_id))
    await _tell_coordinators(ctx, idea)
    return end(Reply(t("owner.withdrawn", id=idea_id, name=idea.name)))


async def _tell_coordinators(ctx: StepContext, idea: Idea) -> None:
    """A note through the outbox to the OPD's coordinators, each in their own language."""
    if idea.opd_id is None:
        return
    rows = await ctx.session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.COORDINATOR, UserRole.opd_id == idea.opd_id)
    )
    for coordinator in rows.unique():
        if coordinator.id == ctx.user.id:
            continue
        identity = await preferred_identity(ctx.session, coordinator.id)
        if identity is None:
            continue
        t = Translator(coordinator.locale or ctx.t.locale)
        text = t(
            "owner.told_withdrawn", id=idea.id, name=idea.name, owner=ctx.user.full_name or "-"
        )
        ctx.deliveries.append(
            Delivery(
                channel=identity.channel,
                external_id=identity.external_id,
                replies=(Reply(text),),
                template=TemplateCall(
                    "idea_withdrawn",
                    (coordinator.full_name or "", idea.name, ctx.user.full_name or "-"),
                ),
                kind="idea_withdrawn",
            )
        )


withdraw_flow.add("confirm", ask_withdraw, answer_withdraw)

__all__ = ["edit_flow", "owner_may_change", "start", "withdraw_flow"]
