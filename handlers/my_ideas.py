"""``/ideku``: a person's ideas (owned or joined) with stage and status, and each one's detail."""

from __future__ import annotations

from handlers import clarification, owner_actions
from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, end, push, stay
from handlers.idea_detail import EDIT_ARGS, WITHDRAW_ARGS, detail_reply
from handlers.messages import Reply
from storage.models import Idea
from storage.queries import can_see_idea, ideas_by_id, ideas_of

flow = Flow(name="my_ideas", first="list", is_menu=True)
MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger number is no idea of anyone's


def _line(ctx: StepContext, number: int, idea: Idea) -> str:
    t = ctx.t
    role = "" if idea.owner_id == ctx.user.id else " " + t("my_ideas.collaborator")
    return (
        t(
            "my_ideas.item",
            number=number,
            id=idea.id,
            name=idea.name,
            stage=t(f"stage.{idea.stage.value}"),
            status=t(f"status.{idea.status.value}"),
        )
        + role
    )


async def my_ideas_command(ctx: StepContext, args: str) -> Transition:
    arg, _, action = args.strip().lstrip("#").partition(" ")
    if arg:
        if not (arg.isascii() and arg.isdigit()):
            return Transition(say=[Reply(ctx.t("my_ideas.bad_id"))])
        action = action.strip().casefold()
        if not action:
            return Transition(say=[await _detail(ctx, int(arg))])
        if not 0 < int(arg) <= MAX_ID:
            return Transition(say=[Reply(ctx.t("my_ideas.not_yours"))])
        if action in EDIT_ARGS:
            return await owner_actions.start(ctx, int(arg), "edit")
        if action in WITHDRAW_ARGS:
            return await owner_actions.start(ctx, int(arg), "withdraw")
        if action in clarification.ANSWER_ARGS:
            return await clarification.start(ctx, int(arg))
        return Transition(say=[Reply(ctx.t("owner.unknown_action", id=int(arg)))])
    ideas = await ideas_of(ctx.session, ctx.user.id)
    if not ideas:
        from handlers.menu import main_menu_choices

        return Transition(say=[Reply(ctx.t("my_ideas.none"), choices=main_menu_choices(ctx.t))])
    return push(flow.new_frame({"page": 0}))


async def _detail(ctx: StepContext, idea_id: int) -> Reply:
    # The id may come from anyone typing any number: never show what is not theirs.
    if not 0 < idea_id <= MAX_ID:
        return Reply(ctx.t("my_ideas.not_yours"))
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    if idea is None or not can_see_idea(idea, ctx.user):
        return Reply(ctx.t("my_ideas.not_yours"))
    return await detail_reply(ctx, idea)


async def ask_list(ctx: StepContext, frame: Frame) -> Reply:
    ideas = await ideas_of(ctx.session, ctx.user.id)
    items = [choice(f"idea:{i.id}", f"#{i.id} {i.name}") for i in ideas]
    page = paginate(items, int(frame.data.get("page") or 0), ctx.t)
    start = page.first_number - 1
    shown = ideas[start : start + len([c for c in page.items if c.payload.startswith("idea:")])]
    lines = [ctx.t("my_ideas.title", count=len(ideas))]
    if page.pages > 1:
        lines.append(ctx.t("choices.page_of", page=page.page + 1, pages=page.pages))
    # Numbered as the buttons of this page are, so a typed number picks what it says.
    lines += [_line(ctx, n, idea) for n, idea in enumerate(shown, start=1)]
    lines.append(ctx.t("my_ideas.choose"))
    return Reply("\n".join(lines), choices=tuple(page.items))


async def answer_list(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    new_page = turn_page(answer.choice, int(frame.data.get("page") or 0))
    if new_page is not None:
        frame.data["page"] = new_page
        return stay()
    if answer.choice is not None and answer.choice.startswith("idea:"):
        raw = answer.choice.removeprefix("idea:")
        if not raw.isdigit():
            return stay(Reply(ctx.t("input.stale_button")))
        return end(await _detail(ctx, int(raw)))
    # Anything else was not meant for this list: let the conversation underneath have it.
    return Transition(fallthrough=True)


flow.add("list", ask_list, answer_list)
