"""Idea intake (``/ide``): one question at a time, the near-duplicate check, a summary, edits.

The draft lives in the conversation frame, so a restart resumes at the same question and
nothing typed is lost; the idea row is written only when the submitter confirms.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.attachments import attachment_row, draft_file
from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.flow import (
    Answer,
    Flow,
    Frame,
    Transition,
    choose_option,
    end,
    goto,
    stay,
    text_problem,
)
from handlers.i18n import Translator
from handlers.idea_detail import public_text
from handlers.idea_fields import AFFAIRS, FIELD_ORDER, FORMS, INITIATORS, TEXT_LIMITS
from handlers.messages import MAX_CHOICES, Reply
from handlers.money import format_rupiah, read_rupiah
from handlers.opd_picker import OpdPicker, Picked, Problem
from handlers.text import has_word_character, one_line, shorten
from storage.directory import entries_by_id, origin
from storage.models import (
    Idea,
    IdeaCollaborator,
    IdeaStatus,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
)
from storage.programmes import current_programme
from storage.queries import ideas_by_id, opds_by_id

log = logging.getLogger(__name__)

flow = Flow(name="intake", first="name")
opd_picker = OpdPicker(
    prefix="opdq", prompt_key="intake.ask_opd_search", results_key="intake.opd_results"
)

SUMMARY_FIELD_CHARS = 1000
MAX_ATTACHMENTS = 10
CHECKED_FIELDS = ("name", "problem", "idea")
VIEW_WORDS = ("lihat", "view")


def _next(frame: Frame, current: str) -> str:
    """The step after ``current``: the next field, or back to the summary when editing."""
    if frame.data.get("editing"):
        return "summary"
    index = FIELD_ORDER.index(current)
    return FIELD_ORDER[index + 1] if index + 1 < len(FIELD_ORDER) else "summary"


# -- free-text fields -------------------------------------------------------------------------


def _text_field(field: str) -> None:
    low, high = TEXT_LIMITS[field]

    async def ask(ctx: StepContext, frame: Frame) -> Reply:
        key = f"intake.ask_{field}"
        current = frame.data.get(field)
        if frame.data.get("editing") and current:
            return Reply(ctx.t(key) + "\n\n" + ctx.t("intake.current_value", value=current))
        return Reply(ctx.t(key))

    async def answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        if answer.choice is not None:
            return stay(Reply(ctx.t("input.stale_button")))
        if problem := text_problem(ctx, answer):
            return stay(problem)
        assert answer.text is not None
        value = one_line(answer.text) if field == "name" else answer.text.strip()
        if len(value) < low or not has_word_character(value):
            return stay(Reply(ctx.t(f"intake.{field}_too_short", minimum=low)))
        if len(value) > high:
            return stay(
                Reply(
                    ctx.t(
                        "intake.too_long",
                        limit=ctx.t.number(high),
                        length=ctx.t.number(len(value)),
                    )
                )
            )
        changed = frame.data.get(field) != value
        frame.data[field] = value
        if field in CHECKED_FIELDS and changed and all(frame.data.get(f) for f in CHECKED_FIELDS):
            return await _check_similar(ctx, frame, after=_next(frame, field))
        return goto(_next(frame, field))

    flow.add(field, ask, answer)


for _field in TEXT_LIMITS:
    _text_field(_field)


# -- the near-duplicate check ---------------------------------------------------------------


async def _check_similar(ctx: StepContext, frame: Frame, after: str) -> Transition:
    """Look for close existing ideas; ask only when something really is close."""
    description = f"{frame.data['problem']}\n{frame.data['idea']}"
    try:
        matches = await ctx.similarity.search(
            str(frame.data["name"]), description, limit=3, session=ctx.session
        )
    except Exception:
        # A suggestion, never a block: a failing check must not stop the submission.
        log.exception("similarity search failed")
        matches = []
    ids: dict[str, list[int]] = {"idea": [], "dir": []}
    for match in matches:
        kind, _, raw_id = match.doc_id.partition(":")
        if kind in ids and raw_id.isdigit():
            ids[kind].append(int(raw_id))
    ideas = await ideas_by_id(ctx.session, ids["idea"])
    entries = await entries_by_id(ctx.session, ids["dir"])
    found = []
    for match in matches:
        kind, _, raw_id = match.doc_id.partition(":")
        score = round(float(match.score), 1)
        # An idea deleted or an entry gone since the index learnt it is simply not shown.
        if kind == "idea" and raw_id.isdigit() and int(raw_id) in ideas:
            found.append({"idea_id": int(raw_id), "score": score})
        elif kind == "dir" and raw_id.isdigit() and int(raw_id) in entries:
            found.append({"dir_id": int(raw_id), "score": score})
    frame.data["after_check"] = after
    if not found:
        frame.data["matches"] = []
        return goto(after)
    frame.data["matches"] = found[:3]
    return goto("duplicates")


async def ask_duplicates(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    matches: list[dict[str, Any]] = frame.data.get("matches") or []
    ideas = await ideas_by_id(ctx.session, [m["idea_id"] for m in matches if "idea_id" in m])
    entries = await entries_by_id(ctx.session, [m["dir_id"] for m in matches if "dir_id" in m])
    lines = [t("dup.intro", count=len(matches))]
    choices = [choice("dup:continue", t("dup.continue"))]
    # A "Lihat" button for each match while they fit WhatsApp's ten (continue, cancel and
    # join/replicate for each come first); "lihat N" typed always works.
    views = MAX_CHOICES - 2 - 2 * len(matches)
    for number, match in enumerate(matches, start=1):
        if "dir_id" in match:
            entry = entries.get(match["dir_id"])
            if entry is None:
                continue
            lines.append(
                t(
                    "dup.item_directory",
                    number=number,
                    name=entry.name,
                    origin=origin(entry) or t("dup.origin_unknown"),
                    score=round(match["score"]),
                )
            )
            # Someone else's directory, not an idea here: nothing to join, only to replicate.
            choices.append(choice(f"dup:rep:{number}", t("dup.replicate", number=number)))
            continue
        idea = ideas.get(match.get("idea_id", 0))
        if idea is None:
            continue
        lines.append(
            t(
                "dup.item",
                number=number,
                name=idea.name,
                opd=idea.opd.name if idea.opd else "-",
                stage=t(f"stage.{idea.stage.value}"),
                score=round(match["score"]),
            )
        )
        if number <= views:
            choices.append(choice(f"dup:view:{number}", t("dup.view", number=number)))
        choices.append(choice(f"dup:join:{number}", t("dup.join", number=number)))
        choices.append(choice(f"dup:rep:{number}", t("dup.replicate", number=number)))
    choices.append(choice("dup:cancel", t("dup.cancel")))
    lines.append(t("dup.question") + "\n" + t("dup.view_hint"))
    return Reply("\n\n".join(lines), choices=tuple(choices))


async def answer_duplicates(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    matches: list[dict[str, Any]] = frame.data.get("matches") or []
    typed = _typed_view(answer.text) if answer.choice is None else None
    if typed is not None:
        return await _view_match(ctx, matches, typed)
    if answer.choice is None:
        return stay(choose_option(ctx, answer))
    action, _, raw_number = answer.choice.removeprefix("dup:").partition(":")
    target: dict[str, Any] | None = None
    number = 0
    if raw_number:
        number = int(raw_number) if raw_number.isdigit() else 0
        if not 1 <= number <= len(matches):
            return stay(Reply(t("input.stale_button")))
        target = matches[number - 1]
    decision = {
        "continue": SimilarityDecisionKind.CONTINUE,
        "join": SimilarityDecisionKind.JOIN,
        "rep": SimilarityDecisionKind.REPLICATE,
        "cancel": SimilarityDecisionKind.CANCEL,
    }.get(action)
    if action == "view":
        return await _view_match(ctx, matches, number)
    if decision is None:
        return stay(Reply(t("input.stale_button")))
    if target is not None and "dir_id" in target and decision is SimilarityDecisionKind.JOIN:
        return stay(Reply(t("input.stale_button")))  # a directory entry was never offered to join
    if decision is SimilarityDecisionKind.JOIN:
        return await _ask_to_join(ctx, frame, raw_number, target)
    await _record_decisions(ctx, frame, matches, decision, target)
    after = str(frame.data.get("after_check") or "goal")
    if decision is SimilarityDecisionKind.CANCEL:
        return end(Reply(t("intake.cancelled")))
    if decision is SimilarityDecisionKind.CONTINUE:
        return goto(after, Reply(t("dup.continued")))
    assert target is not None
    if "dir_id" in target:
        entry = (await entries_by_id(ctx.session, [target["dir_id"]])).get(target["dir_id"])
        if entry is None:
            return stay(Reply(t("input.stale_button")))
        frame.data.pop("replication_of", None)
        frame.data["replication_of_entry"] = entry.id
        return goto(after, Reply(t("dup.replication_noted", name=entry.name)))
    ideas = await ideas_by_id(ctx.session, [target["idea_id"]])
    idea = ideas.get(target["idea_id"])
    if idea is None:
        return stay(Reply(t("input.stale_button")))
    frame.data.pop("replication_of_entry", None)
    frame.data["replication_of"] = idea.id
    return goto(after, Reply(t("dup.replication_noted", name=idea.name)))


def _typed_view(text: str | None) -> int | None:
    """ "lihat 2", "#2", "view 2": the number of a shown match to open; None otherwise."""
    if not text:
        return None
    words = text.casefold().replace("#", " ").split()
    if words and words[0] in VIEW_WORDS:
        words = words[1:]
    if len(words) == 1 and words[0].isascii() and words[0].isdigit() and text.strip() != words[0]:
        return int(words[0])
    return None


async def _view_match(ctx: StepContext, matches: list[dict[str, Any]], number: int) -> Transition:
    """Another's idea, as much as a submitter may see; then the same question, draft intact."""
    if not 1 <= number <= len(matches):
        return stay(Reply(ctx.t("dup.no_such_match", last=len(matches))))
    idea_id = int(matches[number - 1]["idea_id"])
    idea = (await ideas_by_id(ctx.session, [idea_id])).get(idea_id)
    if idea is None:
        return stay(Reply(ctx.t("input.stale_button")))
    return stay(Reply(public_text(ctx.t, idea)))


async def _record_decisions(
    ctx: StepContext,
    frame: Frame,
    matches: list[dict[str, Any]],
    decision: SimilarityDecisionKind,
    target: dict[str, Any] | None,
) -> None:
    """One row per idea shown, so Bappeda sees what was shown and what was chosen."""
    ids: list[int] = list(frame.data.get("decision_ids") or [])
    for match in matches:
        kind = decision
        if target is not None and match is not target:
            kind = SimilarityDecisionKind.CONTINUE
        idea_id = match.get("idea_id")
        row = SimilarityDecision(
            user_id=ctx.user.id,
            draft_name=str(frame.data.get("name", ""))[:150],
            matched_doc_id=f"idea:{idea_id}" if idea_id is not None else f"dir:{match['dir_id']}",
            matched_idea_id=idea_id,
            score=float(match["score"]),
            decision=kind,
        )
        ctx.session.add(row)
        await ctx.session.flush()
        ids.append(row.id)
    frame.data["decision_ids"] = ids


async def _ask_to_join(
    ctx: StepContext, frame: Frame, number: str, target: dict[str, Any] | None
) -> Transition:
    """Joining ends the draft: say so and ask first; nothing is recorded until confirmed."""
    assert target is not None
    idea = (await ideas_by_id(ctx.session, [target["idea_id"]])).get(target["idea_id"])
    if idea is None:
        return stay(Reply(ctx.t("input.stale_button")))
    if idea.owner_id == ctx.user.id:
        # Nothing to join; keep the draft and let the person choose again.
        return stay(Reply(ctx.t("dup.own_idea", name=idea.name)))
    frame.data["join_number"] = int(number)
    return goto("join_confirm")


async def _join_target(ctx: StepContext, frame: Frame) -> tuple[dict[str, Any], Idea] | None:
    matches: list[dict[str, Any]] = frame.data.get("matches") or []
    number = int(frame.data.get("join_number") or 0)
    if not 1 <= number <= len(matches):
        return None
    target = matches[number - 1]
    if "idea_id" not in target:
        return None
    idea = (await ideas_by_id(ctx.session, [target["idea_id"]])).get(target["idea_id"])
    return (target, idea) if idea is not None else None


async def ask_join_confirm(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    found = await _join_target(ctx, frame)
    name = found[1].name if found else ""
    idea_id = found[1].id if found else 0
    return Reply(
        t("dup.join_confirm", id=idea_id, name=name, draft=frame.data.get("name", "")),
        choices=(
            choice("join:yes", t("dup.join_yes")),
            choice("join:back", t("dup.join_back")),
        ),
    )


async def answer_join_confirm(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    from handlers.menu import main_menu_choices

    t = ctx.t
    if answer.choice == "join:back":
        return goto("duplicates")  # the draft is untouched; the same question again
    if answer.choice != "join:yes":
        return stay(choose_option(ctx, answer))
    found = await _join_target(ctx, frame)
    if found is None:
        return goto("duplicates", Reply(t("input.stale_button")))
    target, idea = found
    matches: list[dict[str, Any]] = frame.data.get("matches") or []
    await _record_decisions(ctx, frame, matches, SimilarityDecisionKind.JOIN, target)
    if not any(c.user_id == ctx.user.id for c in idea.collaborators):
        ctx.session.add(IdeaCollaborator(idea_id=idea.id, user_id=ctx.user.id))
    return end(Reply(t("dup.joined", name=idea.name, id=idea.id), choices=main_menu_choices(t)))


flow.add("duplicates", ask_duplicates, answer_duplicates)
flow.add("join_confirm", ask_join_confirm, answer_join_confirm)


# -- fields with fixed options -----------------------------------------------------------------


async def ask_digital(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(
        ctx.t("intake.ask_digital"),
        choices=(
            choice("digital:yes", ctx.t("digital.yes")),
            choice("digital:no", ctx.t("digital.no")),
        ),
    )


async def answer_digital(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice not in ("digital:yes", "digital:no"):
        return stay(choose_option(ctx, answer))
    frame.data["digital"] = answer.choice == "digital:yes"
    return goto(_next(frame, "digital"))


def _option_field(field: str, options: tuple[str, ...]) -> None:
    async def ask(ctx: StepContext, frame: Frame) -> Reply:
        return Reply(
            ctx.t(f"intake.ask_{field}"),
            choices=tuple(choice(f"{field}:{o}", ctx.t(f"{field}.{o}")) for o in options),
        )

    async def answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        value = (answer.choice or "").removeprefix(f"{field}:")
        if answer.choice is None or value not in options:
            return stay(choose_option(ctx, answer))
        frame.data[field] = value
        return goto(_next(frame, field))

    flow.add(field, ask, answer)


_option_field("form", FORMS)
_option_field("initiator", INITIATORS)


async def ask_affair(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    query = str(frame.data.get("affair_query") or "")
    codes = [c for c in AFFAIRS if query.lower() in t(f"affair.{c}").lower()] or list(AFFAIRS)
    items = [choice(f"affair:{c}", t(f"affair.{c}")) for c in codes]
    page = paginate(items, int(frame.data.get("affair_page") or 0), t)
    text = t("intake.ask_affair")
    if page.pages > 1:
        text += "\n" + t("choices.page_of", page=page.page + 1, pages=page.pages)
    return Reply(text, choices=tuple(page.items))


async def answer_affair(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice is not None:
        new_page = turn_page(answer.choice, int(frame.data.get("affair_page") or 0))
        if new_page is not None:
            frame.data["affair_page"] = new_page
            return stay()
        code = answer.choice.removeprefix("affair:")
        if code not in AFFAIRS:
            return stay(Reply(t("input.stale_button")))
        frame.data["affair"] = code
        frame.data["affair_query"] = None
        frame.data["affair_page"] = 0
        return goto(_next(frame, "affair"))
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    query = one_line(answer.text)[:60]
    matching = [c for c in AFFAIRS if query.lower() in t(f"affair.{c}").lower()]
    if not matching:
        return stay(Reply(t("intake.affair_not_found", query=query)))
    if len(matching) == 1:
        frame.data["affair"] = matching[0]
        frame.data["affair_query"] = None
        return goto(_next(frame, "affair"))
    frame.data["affair_query"] = query
    frame.data["affair_page"] = 0
    return stay()


flow.add("digital", ask_digital, answer_digital)
flow.add("affair", ask_affair, answer_affair)


# -- the OPD (defaults to the submitter's) ------------------------------------------------------


async def ask_opd(ctx: StepContext, frame: Frame) -> Reply:
    if frame.data.get("opd_searching"):
        return await opd_picker.ask(ctx, frame)
    own = ctx.user.opd
    if own is None:
        frame.data["opd_searching"] = True
        return await opd_picker.ask(ctx, frame)
    return Reply(
        ctx.t("intake.ask_opd", opd=own.name),
        choices=(
            choice("opd:own", ctx.t("intake.opd_own", opd=own.short_name)),
            choice("opd:other", ctx.t("intake.opd_other")),
        ),
    )


async def answer_opd(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if not frame.data.get("opd_searching"):
        if answer.choice == "opd:own" and ctx.user.opd_id is not None:
            frame.data["opd_id"] = ctx.user.opd_id
            return goto(_next(frame, "opd"))
        if answer.choice == "opd:other":
            frame.data["opd_searching"] = True
            opd_picker.reset(frame)
            return stay()
        if answer.text and not answer.attachments:
            # Typing an agency's name here is a search, as anywhere else an OPD is asked.
            frame.data["opd_searching"] = True
        else:
            return stay(choose_option(ctx, answer))
    result = await opd_picker.answer(ctx, frame, answer)
    if isinstance(result, Problem):
        return stay(result.reply)
    if isinstance(result, Picked):
        frame.data["opd_id"] = result.opd_id
        frame.data["opd_searching"] = False
        return goto(_next(frame, "opd"))
    return stay()


flow.add("opd", ask_opd, answer_opd)


# -- budget and attachments (both optional) ------------------------------------------------------


BUDGET_AMOUNT = "budget:amount:"


async def ask_budget(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    skip = choice("budget:skip", t("intake.skip"))
    readings: list[int] = frame.data.get("budget_readings") or []
    if readings:
        # The typed amount could mean more than one sum: ask, never guess.
        options = [choice(f"{BUDGET_AMOUNT}{n}", format_rupiah(n, t.locale)) for n in readings]
        typed = str(frame.data.get("budget_typed") or "")
        return Reply(t("intake.budget_which", typed=typed), choices=(*options, skip))
    return Reply(t("intake.ask_budget"), choices=(skip,))


async def answer_budget(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    readings: list[int] = frame.data.get("budget_readings") or []
    if answer.choice == "budget:skip":
        return _set_budget(frame, None)
    if answer.choice is not None and answer.choice.startswith(BUDGET_AMOUNT):
        raw = answer.choice.removeprefix(BUDGET_AMOUNT)
        if not raw.isdigit() or int(raw) not in readings:
            return stay(Reply(ctx.t("input.stale_button")))
        return _set_budget(frame, int(raw))
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    found = read_rupiah(answer.text)
    if not found:
        frame.data["budget_readings"] = None
        return stay(Reply(ctx.t("intake.budget_invalid")))
    if len(found) == 1:
        return _set_budget(frame, found[0])
    frame.data["budget_readings"] = found
    frame.data["budget_typed"] = shorten(answer.text, 40)
    return stay()


def _set_budget(frame: Frame, amount: int | None) -> Transition:
    frame.data["budget"] = amount
    frame.data["budget_readings"] = None
    frame.data["budget_typed"] = None
    return goto(_next(frame, "budget"))


async def ask_attachments(ctx: StepContext, frame: Frame) -> Reply:
    count = len(frame.data.get("attachments") or [])
    key = "intake.ask_attachments_more" if count else "intake.ask_attachments"
    return Reply(
        ctx.t(key, count=count), choices=(choice("attach:done", ctx.t("intake.attachments_done")),)
    )


async def answer_attachments(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "attach:done":
        return goto(_next(frame, "attachments"))
    if not answer.attachments:
        return stay(Reply(ctx.t("intake.attachments_expected")))
    kept: list[dict[str, Any]] = list(frame.data.get("attachments") or [])
    for attachment in answer.attachments:
        if len(kept) >= MAX_ATTACHMENTS:
            frame.data["attachments"] = kept  # keep what did fit from this message
            return stay(Reply(ctx.t("intake.attachments_full", limit=MAX_ATTACHMENTS)))
        kept.append(draft_file(attachment))
    frame.data["attachments"] = kept
    return stay()  # the question, asked again, says how many were received


flow.add("budget", ask_budget, answer_budget)
flow.add("attachments", ask_attachments, answer_attachments)


# -- summary, edit, save --------------------------------------------------------------------


def shown_value(t: Translator, field: str, data: dict[str, Any]) -> str | None:
    """A field of a draft (or of an idea put in draft form) as a person reads it; None if empty.

    The OPD and the attachments need the database or a list and are shown by their callers.
    """
    value = data.get(field)
    if value is None or field in ("opd", "attachments"):
        return None
    if field == "digital":
        return t("digital.yes" if value else "digital.no")
    if field in ("form", "affair", "initiator"):
        return t(f"{field}.{value}")
    if field == "budget":
        return format_rupiah(int(value), t.locale)
    return str(value)


async def summary_text(ctx: StepContext, data: dict[str, Any]) -> str:
    """The draft as the submitter checks it before saving."""
    t = ctx.t
    opds = await opds_by_id(ctx.session, [int(data["opd_id"])] if data.get("opd_id") else [])
    opd = opds.get(int(data["opd_id"])) if data.get("opd_id") else None
    values: dict[str, str | None] = {f: shown_value(t, f, data) for f in FIELD_ORDER}
    values["opd"] = opd.name if opd else None
    values["budget"] = values["budget"] or t("intake.not_filled")
    values["attachments"] = ", ".join(a["file_name"] for a in data.get("attachments") or []) or t(
        "intake.none"
    )
    lines = [t("intake.summary_title")]
    for field in FIELD_ORDER:
        value = values[field]
        shown = shorten(str(value), SUMMARY_FIELD_CHARS) if value is not None else "-"
        lines.append(f"{t(f'field.{field}')}: {shown}")
    if data.get("replication_of"):
        ideas = await ideas_by_id(ctx.session, [int(data["replication_of"])])
        original = ideas.get(int(data["replication_of"]))
        if original is not None:
            lines.append(t("intake.summary_replication", name=original.name))
    if data.get("replication_of_entry"):
        entry_id = int(data["replication_of_entry"])
        entry = (await entries_by_id(ctx.session, [entry_id])).get(entry_id)
        if entry is not None:
            where = origin(entry) or t("dup.origin_unknown")
            lines.append(t("intake.summary_replication_directory", name=entry.name, origin=where))
    return "\n".join(lines)


async def ask_summary(ctx: StepContext, frame: Frame) -> Reply:
    frame.data["editing"] = False
    return Reply(
        await summary_text(ctx, frame.data) + "\n\n" + ctx.t("intake.summary_question"),
        choices=(
            choice("summary:save", ctx.t("intake.save")),
            choice("summary:edit", ctx.t("intake.edit")),
            choice("summary:cancel", ctx.t("intake.cancel")),
        ),
    )


async def answer_summary(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "summary:save":
        return await _save(ctx, frame)
    if answer.choice == "summary:edit":
        frame.data["edit_page"] = 0
        return goto("edit")
    if answer.choice == "summary:cancel":
        return end(Reply(ctx.t("intake.cancelled")))
    return stay(choose_option(ctx, answer))


async def ask_edit(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    items = [choice(f"edit:{f}", t(f"field.{f}")) for f in FIELD_ORDER]
    page = paginate(
        items,
        int(frame.data.get("edit_page") or 0),
        t,
        extra=[choice("edit:back", t("intake.back_to_summary"))],
    )
    return Reply(t("intake.ask_edit"), choices=tuple(page.items))


async def answer_edit(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    new_page = turn_page(answer.choice, int(frame.data.get("edit_page") or 0))
    if new_page is not None:
        frame.data["edit_page"] = new_page
        return stay()
    if answer.choice == "edit:back":
        return goto("summary")
    field = (answer.choice or "").removeprefix("edit:")
    if answer.choice is None or field not in FIELD_ORDER:
        return stay(choose_option(ctx, answer))
    frame.data["editing"] = True
    if field == "opd":
        frame.data["opd_searching"] = False
    if field == "affair":
        frame.data["affair_query"] = None
        frame.data["affair_page"] = 0
    return goto(field)


async def _save(ctx: StepContext, frame: Frame) -> Transition:
    from handlers.menu import main_menu_choices

    data = frame.data
    missing = [f for f in ("name", "problem", "idea", "opd_id") if not data.get(f)]
    if missing:
        # Only reachable with a damaged draft; ask again rather than save half an idea.
        return goto(missing[0] if missing[0] != "opd_id" else "opd")
    programme = await current_programme(ctx.session, ctx.now.astimezone(ctx.timezone).date())
    idea = Idea(
        name=str(data["name"]),
        problem=str(data["problem"]),
        idea=str(data["idea"]),
        goal=data.get("goal"),
        benefit=data.get("benefit"),
        beneficiaries=data.get("beneficiaries"),
        is_digital=data.get("digital"),
        form=data.get("form"),
        affair=data.get("affair"),
        initiator=data.get("initiator"),
        budget_estimate=data.get("budget"),
        opd_id=int(data["opd_id"]),
        owner_id=ctx.user.id,
        stage=Stage.DIAGNOSE,
        status=IdeaStatus.SUBMITTED,
        replication_of_id=data.get("replication_of"),
        replication_of_entry_id=data.get("replication_of_entry"),
        programme_id=programme.id if programme else None,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.session.add(idea)
    await ctx.session.flush()
    for attachment in data.get("attachments") or []:
        ctx.session.add(
            attachment_row(attachment, idea_id=idea.id, uploaded_by=ctx.user.id, now=ctx.now)
        )
    for decision_id in data.get("decision_ids") or []:
        decision = await ctx.session.get(SimilarityDecision, int(decision_id))
        if decision is not None:
            decision.idea_id = idea.id
    doc_id, name, description = f"idea:{idea.id}", idea.name, idea.description
    # The index learns the idea only once it is really stored.
    ctx.after_commit.append(lambda: ctx.similarity.upsert(doc_id, name, description))
    return end(
        Reply(ctx.t("intake.saved", id=idea.id, name=idea.name), choices=main_menu_choices(ctx.t))
    )


flow.add("summary", ask_summary, answer_summary)
flow.add("edit", ask_edit, answer_edit)


async def idea_command(ctx: StepContext, args: str) -> Transition:
    from handlers.flow import push

    return push(flow.new_frame(), Reply(ctx.t("intake.intro")))
