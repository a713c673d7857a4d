"""``/tinjau``: the review queue, one idea's detail and matches, and the reviewer's actions.

Every answer reads the idea again through :func:`reviewable` (scope) and checks its state, so
a button pressed twice, from an old message, after someone else acted, or forged with another
OPD's idea id, changes nothing and says so politely (an idea out of scope is "not found").
The bulk stage move lives in handlers/review/bulk.py, on the same flow.
"""

from __future__ import annotations

from handlers.access import Access
from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import (
    Answer,
    Flow,
    Frame,
    Transition,
    choose_option,
    goto,
    push,
    stay,
    text_problem,
)
from handlers.messages import Choice, Reply
from handlers.review import actions
from handlers.review.detail import queue_line, reviewer_detail
from handlers.review.queue import (
    closest_matches,
    for_action,
    is_active,
    is_pending,
    parse_id,
    review_queue,
    reviewable,
)
from storage.models import Idea, Stage
from storage.queries import ideas_by_id

flow = Flow(name="review", first="queue", access=Access.COORDINATOR, is_menu=True)

OPEN = "rv:open:"
BULK = "rv:bulk"
BACK = "rv:back"
VERIFY = "rv:verify:"
REJECT = "rv:reject:"
CLARIFY = "rv:clarify:"
MERGE = "rv:merge:"
STAGE = "rv:stage:"
INTO = "rv:into:"
TO = "rv:to:"
YES = "rv:yes"
NO = "rv:no"
STAGE_WORDS = ("tahap", "stage")


async def review_command(ctx: StepContext, args: str) -> Transition:
    """``/tinjau`` the queue; ``/tinjau 12`` idea 12; ``/tinjau tahap`` a bulk stage move."""
    arg = args.strip().lower()
    if arg in STAGE_WORDS:
        return push(flow.new_frame(step="bulk_opd"))
    if not arg:
        return push(flow.new_frame({"page": 0}))
    idea_id = parse_id(arg)
    if idea_id is None or await reviewable(ctx, idea_id) is None:
        key = "review.bad_id" if idea_id is None else "review.not_found"
        return push(flow.new_frame({"page": 0}), Reply(ctx.t(key)))
    return push(flow.new_frame({"page": 0, "idea": idea_id}, step="idea"))


def _back(ctx: StepContext) -> Choice:
    return choice(BACK, ctx.t("review.back"))


def _id_of(payload: str, prefix: str) -> int | None:
    return parse_id(payload.removeprefix(prefix))


# -- the queue ------------------------------------------------------------------------------


async def ask_queue(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    entries = await review_queue(ctx)
    items = [choice(f"{OPEN}{e.idea_id}", f"#{e.idea_id} {e.name}") for e in entries]
    bulk = choice(BULK, t("review.bulk"))
    page = paginate(items, int(frame.data.get("page") or 0), t, extra=[bulk])
    frame.data["page"] = page.page
    if not entries:
        return Reply(t("review.queue_empty"), choices=tuple(page.items))
    start = page.first_number - 1
    shown = entries[start : start + len([c for c in page.items if c.payload.startswith(OPEN)])]
    # Only the page shown is read in full (owner, OPD).
    ideas = await ideas_by_id(ctx.session, [e.idea_id for e in shown])
    lines = [t("review.queue_title", count=len(entries))]
    if page.pages > 1:
        lines.append(t("choices.page_of", page=page.page + 1, pages=page.pages))
    lines += [
        queue_line(ctx, n, entry, ideas.get(entry.idea_id))
        for n, entry in enumerate(shown, start=1)
    ]
    lines.append(t("review.queue_choose"))
    return Reply("\n".join(lines), choices=tuple(page.items))


async def answer_queue(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    new_page = turn_page(answer.choice, int(frame.data.get("page") or 0))
    if new_page is not None:
        frame.data["page"] = new_page
        return stay()
    if answer.choice == BULK:
        return goto("bulk_opd")
    if answer.choice is not None and answer.choice.startswith(OPEN):
        return await _open(ctx, frame, _id_of(answer.choice, OPEN))
    if answer.choice is None and answer.text and answer.text.startswith("#"):
        return await _open(ctx, frame, parse_id(answer.text))
    # Anything else was not meant for this list: let the conversation underneath have it.
    return Transition(fallthrough=True)


async def _open(ctx: StepContext, frame: Frame, idea_id: int | None) -> Transition:
    if idea_id is None or await reviewable(ctx, idea_id) is None:
        return stay(Reply(ctx.t("review.not_found")))
    frame.data["idea"] = idea_id
    return goto("idea")


# -- one idea -------------------------------------------------------------------------------


def _actions(ctx: StepContext, idea: Idea) -> list[Choice]:
    t = ctx.t
    found: list[Choice] = []
    if is_pending(idea):
        found += [
            choice(f"{VERIFY}{idea.id}", t("review.verify")),
            choice(f"{REJECT}{idea.id}", t("review.reject")),
            choice(f"{CLARIFY}{idea.id}", t("review.clarify")),
        ]
    if is_active(idea):
        found += [
            choice(f"{MERGE}{idea.id}", t("review.merge")),
            choice(f"{STAGE}{idea.id}", t("review.stage")),
        ]
    return [*found, _back(ctx)]


async def _idea(ctx: StepContext, frame: Frame) -> Idea | None:
    return await reviewable(ctx, frame.data.get("idea"))


async def ask_idea(ctx: StepContext, frame: Frame) -> Reply:
    idea = await _idea(ctx, frame)
    if idea is None:
        return Reply(ctx.t("review.not_found"), choices=(_back(ctx),))
    matches = await closest_matches(ctx, idea)
    frame.data["matches"] = [m.idea.id for m in matches if m.idea is not None]
    return Reply(await reviewer_detail(ctx, idea, matches), choices=tuple(_actions(ctx, idea)))


def _no_longer(ctx: StepContext, idea: Idea) -> Reply:
    return Reply(ctx.t("review.no_longer", status=ctx.t(f"status.{idea.status.value}")))


async def answer_idea(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == BACK:
        return goto("queue")
    if answer.choice is None:
        return Transition(fallthrough=True)
    idea = await for_action(ctx, frame.data.get("idea"))
    if idea is None:
        return goto("queue", Reply(t("review.not_found")))
    action, _, raw = answer.choice.rpartition(":")
    if parse_id(raw) != idea.id:
        return stay(Reply(t("input.stale_button")))
    action += ":"
    if action in (VERIFY, REJECT, CLARIFY) and not is_pending(idea):
        return stay(_no_longer(ctx, idea))
    if action in (MERGE, STAGE) and not is_active(idea):
        return stay(_no_longer(ctx, idea))
    if action == VERIFY:
        await actions.verify(ctx, idea)
        return goto("queue", Reply(t("review.verified", id=idea.id, name=idea.name)))
    steps = {REJECT: "reason", CLARIFY: "question", MERGE: "merge", STAGE: "stage"}
    if action in steps:
        return goto(steps[action])
    return stay(choose_option(ctx, answer))


# -- reject with a reason, ask for a clarification -------------------------------------------


def _text_step(step: str, key: str, rejecting: bool) -> None:
    """The reject reason and the clarification question: text, sent to the owner as written."""

    async def ask(ctx: StepContext, frame: Frame) -> Reply:
        idea = await _idea(ctx, frame)
        name = idea.name if idea else "-"
        return Reply(ctx.t(key, name=name), choices=(_back(ctx),))

    async def answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        t = ctx.t
        if answer.choice == BACK:
            return goto("idea")
        if problem := text_problem(ctx, answer):
            return stay(problem)
        assert answer.text is not None
        idea = await for_action(ctx, frame.data.get("idea"))
        if idea is None:
            return goto("queue", Reply(t("review.not_found")))
        if not is_pending(idea):
            return goto("idea", _no_longer(ctx, idea))
        if rejecting:
            await actions.reject(ctx, idea, answer.text)
            return goto("queue", Reply(t("review.rejected", id=idea.id, name=idea.name)))
        await actions.clarify(ctx, idea, answer.text)
        return goto("queue", Reply(t("review.clarify_sent", id=idea.id, name=idea.name)))

    flow.add(step, ask, answer)


_text_step("reason", "review.ask_reason", rejecting=True)
_text_step("question", "review.ask_question", rejecting=False)


# -- merge ----------------------------------------------------------------------------------


async def ask_merge(ctx: StepContext, frame: Frame) -> Reply:
    idea = await _idea(ctx, frame)
    offered: list[Choice] = []
    for target_id in frame.data.get("matches") or []:
        target = await reviewable(ctx, target_id)
        if target is not None and target.id != frame.data.get("idea") and is_active(target):
            offered.append(choice(f"{INTO}{target.id}", f"#{target.id} {target.name}"))
    name = idea.name if idea else "-"
    return Reply(ctx.t("review.ask_merge", name=name), choices=(*offered[:8], _back(ctx)))


async def answer_merge(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == BACK:
        return goto("idea")
    if answer.choice is not None and answer.choice.startswith(INTO):
        target_id = _id_of(answer.choice, INTO)
    elif answer.choice is None and answer.text:
        target_id = parse_id(answer.text)
        if target_id is None:
            return stay(Reply(t("review.bad_id")))
    else:
        return stay(choose_option(ctx, answer))
    target = await reviewable(ctx, target_id)
    if target is None:
        return stay(Reply(t("review.not_found")))
    if target.id == frame.data.get("idea"):
        return stay(Reply(t("review.merge_self")))
    if not is_active(target):
        return stay(Reply(t("review.merge_inactive", id=target.id)))
    frame.data["target"] = target.id
    return goto("merge_confirm")


async def ask_merge_confirm(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea = await _idea(ctx, frame)
    target = await reviewable(ctx, frame.data.get("target"))
    if idea is None or target is None:
        return Reply(t("review.not_found"), choices=(_back(ctx),))
    text = t(
        "review.confirm_merge", id=idea.id, name=idea.name, target_id=target.id, target=target.name
    )
    return Reply(text, choices=(choice(YES, t("review.yes_merge")), choice(NO, t("review.no"))))


async def answer_merge_confirm(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice in (NO, BACK):
        return goto("idea")
    if answer.choice != YES:
        return stay(choose_option(ctx, answer))
    # Locked in id order, so two merges of the same pair in opposite directions cannot deadlock.
    idea_id, target_id = frame.data.get("idea"), frame.data.get("target")
    if not (isinstance(idea_id, int) and isinstance(target_id, int)):
        return goto("queue", Reply(t("input.stale_button")))
    locked = {i: await for_action(ctx, i) for i in sorted({idea_id, target_id})}
    idea, target = locked[idea_id], locked[target_id]
    if idea is None or target is None:
        return goto("queue", Reply(t("review.not_found")))
    if not is_active(idea):
        return goto("idea", _no_longer(ctx, idea))
    if not is_active(target) or target.id == idea.id:
        return goto("merge", Reply(t("review.merge_inactive", id=target.id)))
    await actions.merge(ctx, idea, target)
    return goto(
        "queue",
        Reply(
            t("review.merged", id=idea.id, name=idea.name, target_id=target.id, target=target.name)
        ),
    )


# -- one idea's stage -----------------------------------------------------------------------


def stage_choices(ctx: StepContext, prefix: str, current: Stage | None) -> list[Choice]:
    return [
        choice(f"{prefix}{stage.value}", ctx.t(f"stage.{stage.value}"))
        for stage in Stage
        if stage is not current
    ]


def parse_stage(payload: str, prefix: str) -> Stage | None:
    try:
        return Stage(payload.removeprefix(prefix))
    except ValueError:
        return None


async def ask_stage(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea = await _idea(ctx, frame)
    if idea is None:
        return Reply(t("review.not_found"), choices=(_back(ctx),))
    text = t("review.ask_stage", name=idea.name, stage=t(f"stage.{idea.stage.value}"))
    return Reply(text, choices=(*stage_choices(ctx, TO, idea.stage), _back(ctx)))


async def answer_stage(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == BACK:
        return goto("idea")
    stage = parse_stage(answer.choice, TO) if answer.choice else None
    if stage is None:
        return stay(choose_option(ctx, answer))
    idea = await for_action(ctx, frame.data.get("idea"))
    if idea is None:
        return goto("queue", Reply(t("review.not_found")))
    if not is_active(idea):
        return goto("idea", _no_longer(ctx, idea))
    label = t(f"stage.{stage.value}")
    if idea.stage is stage:
        return goto("idea", Reply(t("review.stage_already", name=idea.name, stage=label)))
    await actions.move_stage(ctx, idea, stage)
    return goto("idea", Reply(t("review.stage_moved", id=idea.id, name=idea.name, stage=label)))


flow.add("queue", ask_queue, answer_queue)
flow.add("idea", ask_idea, answer_idea)
flow.add("merge", ask_merge, answer_merge)
flow.add("merge_confirm", ask_merge_confirm, answer_merge_confirm)
flow.add("stage", ask_stage, answer_stage)
