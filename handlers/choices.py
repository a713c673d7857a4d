"""Choices that fit every channel: at most ten per reply, long lists paged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.i18n import Translator
from handlers.messages import MAX_CHOICE_TITLE, MAX_CHOICES, Choice
from handlers.text import shorten

PAGE_NEXT = "page:next"
PAGE_PREV = "page:prev"


def choice(payload: str, label: str, title: str | None = None) -> Choice:
    """A choice whose title is cut to fit; the full label stays for channels with room."""
    label = " ".join(label.split())
    return Choice(payload=payload, title=shorten(title or label, MAX_CHOICE_TITLE), label=label)


@dataclass(frozen=True)
class Page:
    items: list[Choice]
    page: int
    pages: int
    first_number: int  # the number of the first item in the numbered text


def paginate(
    items: Sequence[Choice],
    page: int,
    t: Translator,
    extra: Sequence[Choice] = (),
) -> Page:
    """One page of ``items`` plus paging buttons and ``extra`` buttons, never over ten in all."""
    room = MAX_CHOICES - len(extra)
    if len(items) <= room:
        return Page(items=[*items, *extra], page=0, pages=1, first_number=1)
    per_page = room - 2  # previous and next
    pages = (len(items) + per_page - 1) // per_page
    page = max(0, min(page, pages - 1))
    start = page * per_page
    shown: list[Choice] = list(items[start : start + per_page])
    if page > 0:
        shown.append(choice(PAGE_PREV, t("choices.previous")))
    if page < pages - 1:
        shown.append(choice(PAGE_NEXT, t("choices.next")))
    return Page(items=[*shown, *extra], page=page, pages=pages, first_number=start + 1)


def turn_page(payload: str | None, page: int) -> int | None:
    """The new page number when ``payload`` is a paging button, else None."""
    if payload == PAGE_NEXT:
        return page + 1
    if payload == PAGE_PREV:
        return max(0, page - 1)
    return None
