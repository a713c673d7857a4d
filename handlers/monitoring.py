"""``/lapor``: the monthly monitoring report of a Deliver-stage idea.

Progress, what was done, obstacles (by category, then in words), eviden files each tagged with
the IID indicator it proves, the next step; then a summary to save, edit or cancel. The draft
lives in the frame, so a restart resumes where the reporter was. One report per idea and
month: reporting again for the same month corrects the first report.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from handlers.attachments import attachment_row, draft_file
from handlers.choices import choice, paginate, turn_page
from handlers.context import StepContext
from handlers.dates import first_of_month, local_today, parse_period, period_of, show_month
from handlers.flow import Answer, Flow, Frame, Transition, end, goto, push, stay, text_problem
from handlers.idea_picker import ask_pick, idea_of_person, page_turned, parse_idea_id, picked_id
from handlers.indicators import indicator_codes, missing_indicators
from handlers.messages import Reply
from handlers.stage_outputs import MONITORED_STAGE
from handlers.text import has_word_character, shorten
from storage.models import Idea, MonitoringReport
from storage.queries import ideas_of
from storage.reports import proven_indicators, report_for

flow = Flow(name="report", first="pick")

OBSTACLES = ("budget", "staff", "regulation", "technology", "other")
TEXT_LIMITS = {"done": (3, 2000), "obstacle_note": (3, 1000), "next_step": (3, 1000)}
ORDER = ("progress", "done", "obstacles", "obstacle_note", "eviden", "next_step")
MAX_EVIDEN = 10
SUMMARY_CHARS = 600
_PROGRESS = re.compile(r"^([+-]?\d{1,9})(?:[.,]\d+)?\s*(%|persen|percent|pct)?$")


def parse_progress(text: str) -> int | None:
    """``"75"``, ``"75%"``, ``"75 %"``, ``"75 persen"`` → 75; None when it is no number."""
    match = _PROGRESS.match(" ".join(text.strip().lower().split()))
    return int(match.group(1)) if match else None


def current_period(ctx: StepContext) -> str:
    return period_of(local_today(ctx.now, ctx.timezone))


async def _deliver_ideas(ctx: StepContext) -> list[Idea]:
    return [i for i in await ideas_of(ctx.session, ctx.user.id) if i.stage is MONITORED_STAGE]


async def report_command(ctx: StepContext, args: str) -> Transition:
    t = ctx.t
    parts = args.split()
    if not parts:
        ideas = await _deliver_ideas(ctx)
        if not ideas:
            return Transition(say=[Reply(t("report.none_in_deliver"))])
        if len(ideas) == 1:
            return await _begin(ctx, ideas[0], current_period(ctx))
        return push(flow.new_frame({"period": current_period(ctx)}))
    idea = await idea_of_person(ctx, parse_idea_id(parts[0]))
    if idea is None:
        return Transition(say=[Reply(t("report.not_yours"))])
    period = current_period(ctx)
    if len(parts) > 1:
        month = parse_period(parts[1]) if len(parts) == 2 else None
        if month is None:
            return Transition(say=[Reply(t("report.bad_period"))])
        if month > first_of_month(local_today(ctx.now, ctx.timezone)):
            return Transition(say=[Reply(t("report.future_period"))])
        period = parts[1]
    if idea.stage is not MONITORED_STAGE:
        stage = t(f"stage.{idea.stage.value}")
        return Transition(say=[Reply(t("report.not_in_deliver", name=idea.name, stage=stage))])
    return await _begin(ctx, idea, period)


async def _draft(ctx: StepContext, idea: Idea, period: str) -> tuple[dict[str, Any], Reply]:
    """A draft for ``idea`` and ``period`` (an earlier report's values, if any) and its intro."""
    t = ctx.t
    month = show_month(date.fromisoformat(period + "-01"), t.locale)
    data: dict[str, Any] = {"idea_id": idea.id, "period": period, "eviden": []}
    lines = [t("report.intro", name=idea.name, id=idea.id, month=month)]
    existing = await report_for(ctx.session, idea.id, period)
    if existing is not None:
        data.update(
            correcting=True,
            progress=existing.progress,
            done=existing.done,
            obstacles=[o for o in existing.obstacles or [] if o in OBSTACLES],
            obstacle_note=existing.obstacle_note,
            next_step=existing.next_step,
        )
        lines.append(t("report.correcting", month=month))
    lines.append(await _missing_text(ctx, idea.id, []))
    return data, Reply("\n\n".join(lines))


async def _missing_text(ctx: StepContext, idea_id: int, eviden: list[dict[str, Any]]) -> str:
    proven = await proven_indicators(ctx.session, idea_id) | _tagged(eviden)
    missing = missing_indicators(proven)
    if not missing:
        return ctx.t("report.nothing_missing")
    lines = []
    for mandatory, key in ((True, "report.missing_mandatory"), (False, "report.missing_other")):
        names = [ctx.t(f"indicator.{i.code}") for i in missing if i.mandatory is mandatory]
        if names:
            lines.append(ctx.t(key, indicators=", ".join(names)))
    lines.append(ctx.t("report.missing_ask"))
    return "\n".join(lines)


def _tagged(eviden: list[dict[str, Any]]) -> set[str]:
    return {str(e["indicator"]) for e in eviden if e.get("indicator")}


async def _begin(ctx: StepContext, idea: Idea, period: str) -> Transition:
    data, intro = await _draft(ctx, idea, period)
    return push(flow.new_frame(data, step="progress"), intro)


def _next(frame: Frame, current: str) -> str:
    """The step after ``current``; back to the summary when editing one field."""
    if current == "obstacles" and frame.data.get("obstacles"):
        return "obstacle_note"
    if frame.data.get("editing"):
        return "summary"
    index = ORDER.index(current) + 1
    if current == "obstacles":
        index += 1  # no obstacle: nothing to describe
    return ORDER[index] if index < len(ORDER) else "summary"


# -- choosing the idea ----------------------------------------------------------------------------


async def ask_pick_idea(ctx: StepContext, frame: Frame) -> Reply:
    return ask_pick(ctx, frame, await _deliver_ideas(ctx), ctx.t("report.ask_idea"))


async def answer_pick_idea(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if page_turned(frame, answer):
        return stay()
    idea_id = picked_id(answer)
    if idea_id is None:
        return stay(Reply(ctx.t("input.choose_option")))
    idea = await idea_of_person(ctx, idea_id)
    if idea is None:
        return stay(Reply(ctx.t("report.not_yours")))
    if idea.stage is not MONITORED_STAGE:
        stage = ctx.t(f"stage.{idea.stage.value}")
        return stay(Reply(ctx.t("report.not_in_deliver", name=idea.name, stage=stage)))
    data, intro = await _draft(ctx, idea, str(frame.data.get("period") or current_period(ctx)))
    frame.data.clear()
    frame.data.update(data)
    return goto("progress", intro)


flow.add("pick", ask_pick_idea, answer_pick_idea)


# -- progress -------------------------------------------------------------------------------------


def _keep_choice(ctx: StepContext, frame: Frame, field: str) -> list[Any]:
    if frame.data.get(field) is None:
        return []
    return [choice("report:keep", ctx.t("report.keep"))]


def _with_current(ctx: StepContext, text: str, value: object) -> str:
    if value is None:
        return text
    return text + "\n\n" + ctx.t("report.current_value", value=shorten(str(value), SUMMARY_CHARS))


async def ask_progress(ctx: StepContext, frame: Frame) -> Reply:
    progress = frame.data.get("progress")
    text = _with_current(
        ctx, ctx.t("report.ask_progress"), None if progress is None else f"{progress}%"
    )
    return Reply(text, choices=tuple(_keep_choice(ctx, frame, "progress")))


async def answer_progress(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "report:keep" and frame.data.get("progress") is not None:
        return goto(_next(frame, "progress"))
    if answer.choice is not None:
        return stay(Reply(ctx.t("input.stale_button")))
    if answer.attachments or not answer.text:
        return stay(Reply(ctx.t("report.progress_expected")))
    value = parse_progress(answer.text)
    if value is None or not 0 <= value <= 100:
        return stay(Reply(ctx.t("report.progress_invalid")))
    frame.data["progress"] = value
    return goto(_next(frame, "progress"))


flow.add("progress", ask_progress, answer_progress)


# -- free-text answers: what was done, the obstacle in words, the next step -------------------


def _text_field(field: str, skippable: bool = False) -> None:
    low, high = TEXT_LIMITS[field]

    async def ask(ctx: StepContext, frame: Frame) -> Reply:
        text = _with_current(ctx, ctx.t(f"report.ask_{field}"), frame.data.get(field))
        choices = _keep_choice(ctx, frame, field)
        if skippable:
            choices.append(choice("report:skip", ctx.t("report.skip")))
        return Reply(text, choices=tuple(choices))

    async def answer(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        if answer.choice == "report:keep" and frame.data.get(field) is not None:
            return goto(_next(frame, field))
        if answer.choice == "report:skip" and skippable:
            frame.data[field] = None
            return goto(_next(frame, field))
        if answer.choice is not None:
            return stay(Reply(ctx.t("input.stale_button")))
        if problem := text_problem(ctx, answer):
            return stay(problem)
        assert answer.text is not None
        value = answer.text.strip()
        if len(value) < low or not has_word_character(value):
            return stay(Reply(ctx.t("report.too_short", minimum=low)))
        if len(value) > high:
            return stay(Reply(ctx.t("report.too_long", limit=high, length=len(value))))
        frame.data[field] = value
        return goto(_next(frame, field))

    flow.add(field, ask, answer)


_text_field("done")
_text_field("obstacle_note", skippable=True)
_text_field("next_step")


# -- obstacles: toggles ---------------------------------------------------------------------------


async def ask_obstacles(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    chosen = set(frame.data.get("obstacles") or [])
    choices = [
        choice(f"obstacle:{code}", ("✓ " if code in chosen else "") + t(f"obstacle.{code}"))
        for code in OBSTACLES
    ]
    choices += [
        choice("obstacle:none", t("report.no_obstacle")),
        choice("obstacle:done", t("report.obstacles_done")),
    ]
    return Reply(t("report.ask_obstacles"), choices=tuple(choices))


async def answer_obstacles(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    chosen: list[str] = [o for o in frame.data.get("obstacles") or [] if o in OBSTACLES]
    if answer.choice == "obstacle:none" or (answer.choice == "obstacle:done" and not chosen):
        frame.data["obstacles"] = []
        frame.data["obstacle_note"] = None
        return goto(_next(frame, "obstacles"))
    if answer.choice == "obstacle:done":
        return goto(_next(frame, "obstacles"))
    code = (answer.choice or "").removeprefix("obstacle:")
    if answer.choice is None or code not in OBSTACLES:
        return stay(Reply(ctx.t("input.choose_option")))
    frame.data["obstacles"] = [o for o in OBSTACLES if (o in chosen) != (o == code)]
    return stay()


flow.add("obstacles", ask_obstacles, answer_obstacles)


# -- eviden: files, each tagged with the indicator it proves --------------------------------------


def _keep_files(frame: Frame, answer: Answer) -> bool:
    """Add the files of ``answer`` to the draft; False when the limit was reached."""
    eviden: list[dict[str, Any]] = list(frame.data.get("eviden") or [])
    fitted = True
    for attachment in answer.attachments:
        if len(eviden) >= MAX_EVIDEN:
            fitted = False
            break
        eviden.append({**draft_file(attachment), "indicator": None})
    frame.data["eviden"] = eviden
    return fitted


def _untagged(frame: Frame) -> dict[str, Any] | None:
    return next((e for e in frame.data.get("eviden") or [] if not e.get("indicator")), None)


async def ask_eviden(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    eviden: list[dict[str, Any]] = frame.data.get("eviden") or []
    missing = await _missing_text(ctx, int(frame.data["idea_id"]), eviden)
    key = "report.ask_eviden_more" if eviden else "report.ask_eviden"
    return Reply(
        t(key, count=len(eviden)) + "\n\n" + missing,
        choices=(choice("eviden:done", t("report.eviden_done")),),
    )


async def answer_eviden(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "eviden:done":
        return goto(_next(frame, "eviden"))
    if not answer.attachments:
        if answer.choice is not None:
            return stay(Reply(ctx.t("input.stale_button")))
        return stay(Reply(ctx.t("report.file_expected")))
    if len(frame.data.get("eviden") or []) >= MAX_EVIDEN:
        return stay(Reply(ctx.t("report.eviden_full", limit=MAX_EVIDEN)))
    fitted = _keep_files(frame, answer)
    said = [] if fitted else [Reply(ctx.t("report.eviden_full", limit=MAX_EVIDEN))]
    return goto("eviden_tag", *said)


async def _indicator_choices(ctx: StepContext, frame: Frame) -> list[Any]:
    """Every indicator, those this idea still lacks first."""
    proven = await proven_indicators(ctx.session, int(frame.data["idea_id"]))
    proven |= _tagged(frame.data.get("eviden") or [])
    missing = [i.code for i in missing_indicators(proven)]
    rest = [c for c in indicator_codes() if c not in missing]
    return [choice(f"ind:{code}", ctx.t(f"indicator.{code}")) for code in missing + rest]


async def ask_eviden_tag(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    pending = _untagged(frame)
    name = pending["file_name"] if pending else ""
    page = paginate(await _indicator_choices(ctx, frame), int(frame.data.get("tag_page") or 0), t)
    text = t("report.ask_indicator", file=name)
    if page.pages > 1:
        text += "\n" + t("choices.page_of", page=page.page + 1, pages=page.pages)
    return Reply(text, choices=tuple(page.items))


async def answer_eviden_tag(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    pending = _untagged(frame)
    if pending is None:
        return goto("eviden")
    new_page = turn_page(answer.choice, int(frame.data.get("tag_page") or 0))
    if new_page is not None:
        frame.data["tag_page"] = new_page
        return stay()
    if answer.attachments:
        if not _keep_files(frame, answer):
            return stay(Reply(t("report.eviden_full", limit=MAX_EVIDEN)))
        return stay(Reply(t("report.tag_first")))
    code = (answer.choice or "").removeprefix("ind:")
    if answer.choice is None or code not in indicator_codes():
        return stay(Reply(t("report.choose_indicator")))
    pending["indicator"] = code
    frame.data["tag_page"] = 0
    said = Reply(
        t("report.eviden_tagged", file=pending["file_name"], indicator=t(f"indicator.{code}"))
    )
    if _untagged(frame) is not None:
        return stay(said)
    return goto("eviden", said)


flow.add("eviden", ask_eviden, answer_eviden)
flow.add("eviden_tag", ask_eviden_tag, answer_eviden_tag)


# -- summary, edit, save --------------------------------------------------------------------------


def _indicator_label(ctx: StepContext, file: dict[str, Any]) -> str:
    code = file.get("indicator")
    return ctx.t(f"indicator.{code}") if code else ctx.t("report.untagged")


def summary_text(ctx: StepContext, idea: Idea, data: dict[str, Any]) -> str:
    t = ctx.t
    month = show_month(date.fromisoformat(str(data["period"]) + "-01"), t.locale)
    obstacles = data.get("obstacles") or []
    eviden: list[dict[str, Any]] = data.get("eviden") or []
    none = t("report.none")
    lines = [t("report.summary_title", name=idea.name, month=month)]
    if data.get("correcting"):
        lines.append(t("report.summary_correcting"))
    values = {
        "progress": f"{data['progress']}%" if data.get("progress") is not None else "-",
        "done": shorten(str(data.get("done") or "-"), SUMMARY_CHARS),
        "obstacles": ", ".join(t(f"obstacle.{o}") for o in obstacles) or none,
        "obstacle_note": shorten(str(data.get("obstacle_note") or none), SUMMARY_CHARS),
        "eviden": "; ".join(f"{e['file_name']} ({_indicator_label(ctx, e)})" for e in eviden)
        or none,
        "next_step": shorten(str(data.get("next_step") or "-"), SUMMARY_CHARS),
    }
    for field in ORDER:
        if field == "obstacle_note" and not obstacles:
            continue
        lines.append(f"{t(f'report.field.{field}')}: {values[field]}")
    return "\n".join(lines)


async def ask_summary(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    frame.data["editing"] = False
    idea = await idea_of_person(ctx, frame.data.get("idea_id"))
    if idea is None:
        return Reply(t("report.not_yours"), choices=(choice("summary:cancel", t("report.cancel")),))
    return Reply(
        summary_text(ctx, idea, frame.data) + "\n\n" + t("report.summary_question"),
        choices=(
            choice("summary:save", t("report.save")),
            choice("summary:edit", t("report.edit")),
            choice("summary:cancel", t("report.cancel")),
        ),
    )


async def answer_summary(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "summary:save":
        return await _save(ctx, frame)
    if answer.choice == "summary:edit":
        return goto("edit")
    if answer.choice == "summary:cancel":
        return end(Reply(ctx.t("report.cancelled")))
    return stay(Reply(ctx.t("input.choose_option")))


async def ask_edit(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    fields = [f for f in ORDER if f != "obstacle_note" or frame.data.get("obstacles")]
    choices = [choice(f"edit:{f}", t(f"report.field.{f}")) for f in fields]
    choices.append(choice("edit:back", t("report.back_to_summary")))
    return Reply(t("report.ask_edit"), choices=tuple(choices))


async def answer_edit(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == "edit:back":
        return goto("summary")
    field = (answer.choice or "").removeprefix("edit:")
    if answer.choice is None or field not in ORDER:
        return stay(Reply(ctx.t("input.choose_option")))
    frame.data["editing"] = True
    return goto(field)


flow.add("summary", ask_summary, answer_summary)
flow.add("edit", ask_edit, answer_edit)


async def _save(ctx: StepContext, frame: Frame) -> Transition:
    from handlers.menu import main_menu_choices

    t = ctx.t
    data = frame.data
    idea = await idea_of_person(ctx, data.get("idea_id"))
    if idea is None:
        return end(Reply(t("report.not_yours")))
    missing = [f for f in ("progress", "done", "next_step") if data.get(f) is None]
    if missing:
        return goto(missing[0])  # only with a damaged draft: ask rather than save half
    period = str(data["period"])
    report = await report_for(ctx.session, idea.id, period)
    corrected = report is not None
    if report is None:
        report = MonitoringReport(idea_id=idea.id, period=period, submitted_at=ctx.now)
        ctx.session.add(report)
    report.reporter_id = ctx.user.id
    report.progress = int(data["progress"])
    report.done = str(data["done"])
    report.obstacles = [o for o in data.get("obstacles") or [] if o in OBSTACLES]
    report.obstacle_note = data.get("obstacle_note") if report.obstacles else None
    report.next_step = str(data["next_step"])
    report.updated_at = ctx.now
    await ctx.session.flush()
    for file in data.get("eviden") or []:
        ctx.session.add(
            attachment_row(
                file, idea_id=idea.id, uploaded_by=ctx.user.id, now=ctx.now, report_id=report.id
            )
        )
    month = show_month(date.fromisoformat(period + "-01"), t.locale)
    key = "report.corrected" if corrected else "report.saved"
    return end(Reply(t(key, name=idea.name, month=month), choices=main_menu_choices(t)))
