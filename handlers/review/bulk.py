"""``/tinjau tahap``: move many ideas of one OPD from one stage to another at once.

OPD (within scope) → current stage → ideas (toggle, or select all) → target stage → confirm.
Each idea is read again at the confirmation, so one that moved, left the scope or was merged
meanwhile is skipped and counted, never moved by a stale list.
"""

from __future__ import annotations

from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import Answer, Frame, Transition, choose_option, goto, stay
from handlers.messages import Reply
from handlers.review import actions
from handlers.review.flow import BACK, NO, YES, flow, parse_stage, stage_choices
from handlers.review.queue import (
    for_action,
    is_active,
    movable_ideas,
    parse_id,
    reviewable,
    stage_counts,
)
from handlers.text import shorten
from storage.models import Stage
from storage.queries import opds_by_id

OPD = "rv:opd:"
FROM = "rv:from:"
TOGGLE = "rv:tog:"
ALL = "rv:all"
NEXT = "rv:next"
TARGET = "rv:bto:"
CHECK = "✓ "


def _stage(frame: Frame, key: str) -> Stage | None:
    raw = frame.data.get(key)
    return Stage(raw) if isinstance(raw, str) and raw in set(Stage) else None


def _opd(frame: Frame) -> int | None:
    value = frame.data.get("bulk_opd")
    return value if isinstance(value, int) else None


async def ask_opd(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    counts = await stage_counts(ctx)
    opds = await opds_by_id(ctx.session, counts)
    ordered = sorted(opds.values(), key=lambda o: o.name)
    items = [
        choice(f"{OPD}{o.id}", f"{o.short_name} ({sum(counts[o.id].values())})") for o in ordered
    ]
    if not items:
        return Reply(t("review.bulk_nothing"), choices=(choice(BACK, t("review.back")),))
    page = paginate(items, int(frame.data.get("bulk_page") or 0), t)
    frame.data["bulk_page"] = page.page
    return Reply(t("review.bulk_ask_opd"), choices=tuple(page.items))


async def answer_opd(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    new_page = turn_page(answer.choice, int(frame.data.get("bulk_page") or 0))
    if new_page is not None:
        frame.data["bulk_page"] = new_page
        return stay()
    if answer.choice == BACK:
        return goto("queue")
    if answer.choice is None or not answer.choice.startswith(OPD):
        return stay(choose_option(ctx, answer))
    opd_id = parse_id(answer.choice.removeprefix(OPD))
    if opd_id is None or opd_id not in await stage_counts(ctx):
        return stay(Reply(ctx.t("review.not_found")))
    frame.data.update(bulk_opd=opd_id, bulk_from=None, bulk_to=None, selected=[], page=0)
    return goto("bulk_from")


async def ask_from(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    opd_id = _opd(frame)
    counts = (await stage_counts(ctx)).get(opd_id or 0, {})
    items = [
        choice(f"{FROM}{stage.value}", f"{t(f'stage.{stage.value}')} ({counts[stage]})")
        for stage in Stage
        if counts.get(stage)
    ]
    return Reply(t("review.bulk_ask_from"), choices=(*items, choice(BACK, t("review.back"))))


async def answer_from(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == BACK:
        return goto("bulk_opd")
    stage = parse_stage(answer.choice, FROM) if answer.choice else None
    if stage is None:
        return stay(choose_option(ctx, answer))
    frame.data.update(bulk_from=stage.value, selected=[], page=0)
    return goto("bulk_pick")


async def _movable(ctx: StepContext, frame: Frame) -> list[int]:
    opd_id, stage = _opd(frame), _stage(frame, "bulk_from")
    if opd_id is None or stage is None:
        return []
    return [i.id for i in await movable_ideas(ctx, opd_id, stage)]


async def ask_pick(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    opd_id, stage = _opd(frame), _stage(frame, "bulk_from")
    ideas = await movable_ideas(ctx, opd_id, stage) if opd_id and stage else []
    selected = set(frame.data.get("selected") or [])
    items = [
        choice(f"{TOGGLE}{i.id}", (CHECK if i.id in selected else "") + f"#{i.id} {i.name}")
        for i in ideas
    ]
    everything = bool(ideas) and all(i.id in selected for i in ideas)
    extra = [
        choice(ALL, t("review.bulk_none" if everything else "review.bulk_all")),
        choice(NEXT, t("review.bulk_next", count=len(selected))),
    ]
    page = paginate(items, int(frame.data.get("page") or 0), t, extra=extra)
    frame.data["page"] = page.page
    lines = [
        t(
            "review.bulk_ask_pick",
            stage=t(f"stage.{stage.value}") if stage else "-",
            count=len(ideas),
            selected=len(selected),
        )
    ]
    if page.pages > 1:
        lines.append(t("choices.page_of", page=page.page + 1, pages=page.pages))
    return Reply("\n".join(lines), choices=tuple(page.items))


async def answer_pick(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    new_page = turn_page(answer.choice, int(frame.data.get("page") or 0))
    if new_page is not None:
        frame.data["page"] = new_page
        return stay()
    movable = await _movable(ctx, frame)
    selected: list[int] = [i for i in frame.data.get("selected") or [] if i in movable]
    if answer.choice == ALL:
        frame.data["selected"] = [] if set(movable) <= set(selected) else movable
        return stay()
    if answer.choice == NEXT:
        if not selected:
            return stay(Reply(ctx.t("review.bulk_none_selected")))
        frame.data["selected"] = selected
        return goto("bulk_to")
    if answer.choice is not None and answer.choice.startswith(TOGGLE):
        idea_id = parse_id(answer.choice.removeprefix(TOGGLE))
        if idea_id not in movable:
            return stay(Reply(ctx.t("review.bulk_gone")))
        frame.data["selected"] = (
            [i for i in selected if i != idea_id] if idea_id in selected else [*selected, idea_id]
        )
        return stay()
    return stay(choose_option(ctx, answer))


async def ask_to(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    count = len(frame.data.get("selected") or [])
    choices = (
        *stage_choices(ctx, TARGET, _stage(frame, "bulk_from")),
        choice(BACK, t("review.back")),
    )
    return Reply(t("review.bulk_ask_to", count=count), choices=choices)


async def answer_to(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == BACK:
        return goto("bulk_pick")
    stage = parse_stage(answer.choice, TARGET) if answer.choice else None
    if stage is None or stage is _stage(frame, "bulk_from"):
        return stay(choose_option(ctx, answer))
    frame.data["bulk_to"] = stage.value
    return goto("bulk_confirm")


async def ask_confirm(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    source, target = _stage(frame, "bulk_from"), _stage(frame, "bulk_to")
    names = []
    for idea_id in frame.data.get("selected") or []:
        idea = await reviewable(ctx, idea_id)
        if idea is not None:
            names.append(f"#{idea.id} {shorten(idea.name, 60)}")
    text = t(
        "review.bulk_confirm",
        count=len(names),
        source=t(f"stage.{source.value}") if source else "-",
        target=t(f"stage.{target.value}") if target else "-",
        ideas="\n".join(names),
    )
    return Reply(text, choices=(choice(YES, t("review.yes_move")), choice(NO, t("review.no"))))


async def answer_confirm(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice in (NO, BACK):
        return goto("bulk_pick")
    if answer.choice != YES:
        return stay(choose_option(ctx, answer))
    opd_id, source, target = _opd(frame), _stage(frame, "bulk_from"), _stage(frame, "bulk_to")
    if opd_id is None or source is None or target is None:
        return goto("bulk_opd", Reply(t("input.stale_button")))
    moved = skipped = 0
    for idea_id in sorted(frame.data.get("selected") or []):
        idea = await for_action(ctx, idea_id)
        if idea is None or not is_active(idea) or idea.stage is not source or idea.opd_id != opd_id:
            skipped += 1
            continue
        await actions.move_stage(ctx, idea, target)
        moved += 1
    frame.data["selected"] = []
    label = t(f"stage.{target.value}")
    done = [Reply(t("review.bulk_done", count=moved, stage=label))]
    if skipped:
        done.append(Reply(t("review.bulk_skipped", count=skipped)))
    return goto("queue", *done)


flow.add("bulk_opd", ask_opd, answer_opd)
flow.add("bulk_from", ask_from, answer_from)
flow.add("bulk_pick", ask_pick, answer_pick)
flow.add("bulk_to", ask_to, answer_to)
flow.add("bulk_confirm", ask_confirm, answer_confirm)
