"""``/rencana``: an idea's rencana aksi (milestones by month) and its launch date.

Owners and collaborators may change the plan. Each milestone is saved when it is complete
(month and activity); the plan itself is the summary the person sees after every change.
"""

from __future__ import annotations

from datetime import date

from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.dates import first_of_month, local_today, parse_day, parse_month, show_day, show_month
from handlers.flow import Answer, Flow, Frame, Transition, end, goto, push, stay, text_problem
from handlers.idea_picker import ask_pick, idea_of_person, page_turned, parse_idea_id, picked_id
from handlers.messages import Reply
from handlers.text import has_word_character, shorten
from storage.action_plans import plan_item, plan_of
from storage.models import ActionPlanItem, Idea, Stage
from storage.queries import ideas_of

flow = Flow(name="action_plan", first="pick")

ACTIVITY_MIN, ACTIVITY_MAX = 5, 1000
MAX_ITEMS = 36  # three years of monthly milestones is plenty for one idea
PLANNED_STAGES = (Stage.DESIGN, Stage.DELIVER)


async def _candidates(ctx: StepContext) -> list[Idea]:
    """Ideas in Design or Deliver first; with none there, any idea of theirs."""
    ideas = await ideas_of(ctx.session, ctx.user.id)
    planned = [i for i in ideas if i.stage in PLANNED_STAGES]
    return planned or ideas


async def plan_command(ctx: StepContext, args: str) -> Transition:
    if args.strip():
        idea = await idea_of_person(ctx, parse_idea_id(args))
        if idea is None:
            return Transition(say=[Reply(ctx.t("plan.not_yours"))])
        return push(flow.new_frame({"idea_id": idea.id}, step="plan"))
    ideas = await _candidates(ctx)
    if not ideas:
        return Transition(say=[Reply(ctx.t("plan.no_ideas"))])
    if len(ideas) == 1:
        return push(flow.new_frame({"idea_id": ideas[0].id}, step="plan"))
    return push(flow.new_frame())


# -- choosing the idea ----------------------------------------------------------------------------


async def ask_pick_idea(ctx: StepContext, frame: Frame) -> Reply:
    return ask_pick(ctx, frame, await _candidates(ctx), ctx.t("plan.ask_idea"))


async def answer_pick_idea(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if page_turned(frame, answer):
        return stay()
    idea_id = picked_id(answer)
    if idea_id is None:
        return stay(Reply(ctx.t("input.choose_option")))
    idea = await idea_of_person(ctx, idea_id)
    if idea is None:
        return stay(Reply(ctx.t("plan.not_yours")))
    frame.data["idea_id"] = idea.id
    return goto("plan")


flow.add("pick", ask_pick_idea, answer_pick_idea)


# -- the plan, and what to do with it -------------------------------------------------------------


async def plan_text(ctx: StepContext, idea: Idea) -> str:
    t = ctx.t
    items = await plan_of(ctx.session, idea.id)
    lines = [t("plan.title", id=idea.id, name=idea.name)]
    if items:
        lines += [
            t("plan.item", month=show_month(i.month, t.locale), activity=shorten(i.activity, 300))
            for i in items
        ]
    else:
        lines.append(t("plan.empty"))
    launch = show_day(idea.launch_date, t.locale) if idea.launch_date else t("plan.launch_unset")
    lines.append(t("plan.launch", date=launch))
    return "\n".join(lines)


async def ask_plan(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is None:
        return Reply(t("plan.not_yours"), choices=(choice("plan:done", t("plan.done")),))
    for key in ("item_id", "month", "old_month", "old_activity"):
        frame.data.pop(key, None)
    has_items = bool(await plan_of(ctx.session, idea.id))
    choices = [choice("plan:add", t("plan.add"))]
    if has_items:
        choices += [
            choice("plan:change", t("plan.change")),
            choice("plan:remove", t("plan.remove")),
        ]
    choices += [
        choice(
            "plan:launch",
            t("plan.set_launch" if idea.launch_date is None else "plan.change_launch"),
        ),
        choice("plan:done", t("plan.done")),
    ]
    return Reply(await plan_text(ctx, idea) + "\n\n" + t("plan.question"), choices=tuple(choices))


async def answer_plan(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "plan:done":
        return end(Reply(t("plan.finished")))
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is None:
        return end(Reply(t("plan.not_yours")))
    if answer.choice == "plan:add":
        if len(await plan_of(ctx.session, idea.id)) >= MAX_ITEMS:
            return stay(Reply(t("plan.full", limit=MAX_ITEMS)))
        return goto("month")
    if answer.choice in ("plan:change", "plan:remove"):
        if not await plan_of(ctx.session, idea.id):
            return stay(Reply(t("plan.empty")))
        frame.data["item_action"] = answer.choice.removeprefix("plan:")
        frame.data["item_page"] = 0
        return goto("item")
    if answer.choice == "plan:launch":
        return goto("launch")
    return stay(Reply(t("input.choose_option")))


flow.add("plan", ask_plan, answer_plan)


# -- a milestone: its month, then its activity ----------------------------------------------------


def _this_month(ctx: StepContext) -> date:
    return first_of_month(local_today(ctx.now, ctx.timezone))


async def ask_month(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    choices = []
    text = t("plan.ask_month")
    if frame.data.get("item_id") is not None and frame.data.get("old_month"):
        current = date.fromisoformat(str(frame.data["old_month"]))
        text += "\n\n" + t("plan.current_value", value=show_month(current, t.locale))
        choices.append(choice("plan:keep", t("plan.keep")))
    choices.append(choice("plan:back", t("plan.back")))
    return Reply(text, choices=tuple(choices))


async def answer_month(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "plan:back":
        return goto("plan")
    if answer.choice == "plan:keep" and frame.data.get("old_month"):
        frame.data["month"] = frame.data["old_month"]
        return goto("activity")
    if answer.choice is not None:
        return stay(Reply(t("input.stale_button")))
    if answer.attachments or not answer.text:
        return stay(Reply(t("plan.month_expected")))
    month = parse_month(answer.text)
    if month is None:
        return stay(Reply(t("plan.month_invalid")))
    if month < _this_month(ctx):
        return stay(Reply(t("plan.month_past", month=show_month(month, t.locale))))
    frame.data["month"] = month.isoformat()
    return goto("activity")


async def ask_activity(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    month = date.fromisoformat(str(frame.data["month"]))
    text = t("plan.ask_activity", month=show_month(month, t.locale))
    choices = []
    if frame.data.get("old_activity"):
        text += "\n\n" + t(
            "plan.current_value", value=shorten(str(frame.data["old_activity"]), 600)
        )
        choices.append(choice("plan:keep", t("plan.keep")))
    choices.append(choice("plan:back", t("plan.back")))
    return Reply(text, choices=tuple(choices))


async def answer_activity(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "plan:back":
        return goto("plan")
    if answer.choice == "plan:keep" and frame.data.get("old_activity"):
        activity = str(frame.data["old_activity"])
    else:
        if answer.choice is not None:
            return stay(Reply(t("input.stale_button")))
        if problem := text_problem(ctx, answer):
            return stay(problem)
        assert answer.text is not None
        activity = answer.text.strip()
        if len(activity) < ACTIVITY_MIN or not has_word_character(activity):
            return stay(Reply(t("plan.activity_too_short", minimum=ACTIVITY_MIN)))
        if len(activity) > ACTIVITY_MAX:
            return stay(Reply(t("plan.too_long", limit=ACTIVITY_MAX, length=len(activity))))
    return await _save_item(ctx, frame, activity)


async def _save_item(ctx: StepContext, frame: Frame, activity: str) -> Transition:
    t = ctx.t
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is None:
        return end(Reply(t("plan.not_yours")))
    month = date.fromisoformat(str(frame.data["month"]))
    item_id = frame.data.get("item_id")
    item = await plan_item(ctx.session, idea.id, int(item_id)) if item_id is not None else None
    if item is None:
        ctx.session.add(
            ActionPlanItem(
                idea_id=idea.id,
                month=month,
                activity=activity,
                author_id=ctx.user.id,
                created_at=ctx.now,
                updated_at=ctx.now,
            )
        )
        said = t("plan.added", month=show_month(month, t.locale))
    else:
        item.month, item.activity, item.updated_at = month, activity, ctx.now
        said = t("plan.changed", month=show_month(month, t.locale))
    await ctx.session.flush()
    return goto("plan", Reply(said))


flow.add("month", ask_month, answer_month)
flow.add("activity", ask_activity, answer_activity)


# -- choosing a milestone to change or remove -----------------------------------------------------


async def ask_item(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    idea_id = int(frame.data.get("idea_id") or 0)
    items = [
        choice(
            f"item:{i.id}",
            f"{show_month(i.month, t.locale)}: {i.activity}",
        )
        for i in await plan_of(ctx.session, idea_id)
    ]
    page = paginate(
        items, int(frame.data.get("item_page") or 0), t, extra=[choice("plan:back", t("plan.back"))]
    )
    key = "plan.ask_change" if frame.data.get("item_action") == "change" else "plan.ask_remove"
    text = t(key)
    if page.pages > 1:
        text += "\n" + t("choices.page_of", page=page.page + 1, pages=page.pages)
    return Reply(text, choices=tuple(page.items))


async def answer_item(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    new_page = turn_page(answer.choice, int(frame.data.get("item_page") or 0))
    if new_page is not None:
        frame.data["item_page"] = new_page
        return stay()
    if answer.choice == "plan:back":
        return goto("plan")
    raw = (answer.choice or "").removeprefix("item:")
    if answer.choice is None or not raw.isdigit():
        return stay(Reply(t("input.choose_option")))
    item = await plan_item(ctx.session, int(frame.data.get("idea_id") or 0), int(raw))
    if item is None:
        return stay(Reply(t("input.stale_button")))
    if frame.data.get("item_action") == "remove":
        month = show_month(item.month, t.locale)
        await ctx.session.delete(item)
        await ctx.session.flush()
        return goto("plan", Reply(t("plan.removed", month=month)))
    frame.data["item_id"] = item.id
    frame.data["old_month"] = item.month.isoformat()
    frame.data["old_activity"] = item.activity
    return goto("month")


flow.add("item", ask_item, answer_item)


# -- the launch date ------------------------------------------------------------------------------


async def ask_launch(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    text = t("plan.ask_launch")
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is not None and idea.launch_date is not None:
        text += "\n\n" + t("plan.current_value", value=show_day(idea.launch_date, t.locale))
    return Reply(text, choices=(choice("plan:back", t("plan.back")),))


async def answer_launch(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == "plan:back":
        return goto("plan")
    if answer.choice is not None:
        return stay(Reply(t("input.stale_button")))
    if answer.attachments or not answer.text:
        return stay(Reply(t("plan.day_expected")))
    day = parse_day(answer.text)
    if day is None:
        return stay(Reply(t("plan.day_invalid")))
    if day < local_today(ctx.now, ctx.timezone):
        return stay(Reply(t("plan.day_past", date=show_day(day, t.locale))))
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is None:
        return end(Reply(t("plan.not_yours")))
    idea.launch_date = day
    return goto("plan", Reply(t("plan.launch_saved", date=show_day(day, t.locale))))


flow.add("launch", ask_launch, answer_launch)
