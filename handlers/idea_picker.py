"""Choosing one of a person's ideas by button or by ``#id``, never revealing anyone else's."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import Answer, Frame
from handlers.messages import Reply
from storage.models import Idea
from storage.queries import can_see_idea, ideas_by_id

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger number is no idea of anyone's
IDEA_PREFIX = "pick:"


def parse_idea_id(raw: str) -> int | None:
    """``"12"`` or ``"#12"`` → 12; None for anything else or an impossible id."""
    value = raw.strip().lstrip("#")
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


async def idea_of_person(ctx: StepContext, idea_id: int | None) -> Idea | None:
    """The idea, when the person owns it or collaborates on it (else None, whatever exists)."""
    if idea_id is None or not 0 < idea_id <= MAX_ID:
        return None
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    if idea is None or not can_see_idea(idea, ctx.user):
        return None
    return idea


def ask_pick(ctx: StepContext, frame: Frame, ideas: Sequence[Idea], question: str) -> Reply:
    """The person's ideas as buttons (paged), each with its stage."""
    t = ctx.t
    items = [
        choice(f"{IDEA_PREFIX}{i.id}", f"#{i.id} {i.name} ({t(f'stage.{i.stage.value}')})")
        for i in ideas
    ]
    page = paginate(items, int(frame.data.get("pick_page") or 0), t)
    text = question
    if page.pages > 1:
        text += "\n" + t("choices.page_of", page=page.page + 1, pages=page.pages)
    return Reply(text, choices=tuple(page.items))


def page_turned(frame: Frame, answer: Answer) -> bool:
    """True when the answer was a paging button (the page is turned; ask again)."""
    new_page = turn_page(answer.choice, int(frame.data.get("pick_page") or 0))
    if new_page is None:
        return False
    frame.data["pick_page"] = new_page
    return True


def picked_id(answer: Answer) -> int | None:
    """The idea id picked by button, or typed as ``12`` / ``#12``; None when not understood."""
    if answer.choice is not None:
        if answer.choice.startswith(IDEA_PREFIX):
            return parse_idea_id(answer.choice.removeprefix(IDEA_PREFIX))
        return None
    if answer.text and not answer.attachments:
        return parse_idea_id(answer.text)
    return None
