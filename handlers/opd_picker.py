"""Choosing an OPD by typing part of its name: used by registration and idea intake."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import Answer, Frame, text_problem
from handlers.messages import Reply
from handlers.text import is_small_number
from storage.queries import opd_count, opds_by_id, search_opds

SEARCH_AGAIN = "opd:again"


@dataclass(frozen=True)
class Picked:
    opd_id: int


@dataclass(frozen=True)
class Problem:
    reply: Reply


class OpdPicker:
    """Keeps its query and page in ``frame.data`` under ``prefix`` so a restart resumes it."""

    def __init__(self, prefix: str, prompt_key: str, results_key: str = "opd.results") -> None:
        self.prefix = prefix
        self.prompt_key = prompt_key
        self.results_key = results_key  # "Pilih OPD Anda" or "Pilih OPD pelaksana"

    def _get(self, frame: Frame, key: str) -> object:
        return frame.data.get(f"{self.prefix}_{key}")

    def _page(self, frame: Frame) -> int:
        value = self._get(frame, "page")
        return value if isinstance(value, int) else 0

    def _set(self, frame: Frame, key: str, value: object) -> None:
        frame.data[f"{self.prefix}_{key}"] = value

    def reset(self, frame: Frame) -> None:
        self._set(frame, "query", None)
        self._set(frame, "page", 0)

    async def ask(self, ctx: StepContext, frame: Frame) -> Reply:
        t = ctx.t
        query = self._get(frame, "query")
        if not isinstance(query, str) or not query:
            if await opd_count(ctx.session) == 0:
                return Reply(t("opd.none_configured"))
            return Reply(t(self.prompt_key))
        opds = await search_opds(ctx.session, query)
        items = [choice(f"opd:{o.id}", o.name, o.short_name) for o in opds]
        page_no = self._page(frame)
        page = paginate(items, page_no, t, extra=[choice(SEARCH_AGAIN, t("opd.search_again"))])
        header = t(self.results_key, query=query, count=len(opds))
        if page.pages > 1:
            header += "\n" + t("choices.page_of", page=page.page + 1, pages=page.pages)
        return Reply(header, choices=tuple(page.items))

    async def answer(
        self, ctx: StepContext, frame: Frame, answer: Answer
    ) -> Picked | Problem | None:
        """A picked OPD, a problem to tell, or None when the picker only moved (ask again)."""
        t = ctx.t
        if answer.choice is not None:
            new_page = turn_page(answer.choice, self._page(frame))
            if new_page is not None:
                self._set(frame, "page", new_page)
                return None
            if answer.choice == SEARCH_AGAIN:
                self.reset(frame)
                return None
            if answer.choice.startswith("opd:"):
                opd_id = int(answer.choice[4:])
                if opd_id not in await opds_by_id(ctx.session, [opd_id]):
                    return Problem(Reply(t("input.stale_button")))
                self.reset(frame)
                return Picked(opd_id)
            return Problem(Reply(t("input.stale_button")))
        if problem := text_problem(ctx, answer):
            return Problem(problem)
        assert answer.text is not None
        if is_small_number(answer.text) and self._get(frame, "query") and answer.offered:
            # A list is shown and its numbers were meant: "9" is no search for an agency.
            return Problem(
                Reply(t("opd.number_out_of_range", number=answer.text, last=answer.offered))
            )
        query = " ".join(answer.text.split())[:100]
        if not await search_opds(ctx.session, query):
            return Problem(Reply(t("opd.not_found", query=query)))
        self._set(frame, "query", query)
        self._set(frame, "page", 0)
        return None
