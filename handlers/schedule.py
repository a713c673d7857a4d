"""``/jadwal``: the current programme's 5D dates, where today stands, and what is due from me."""

from __future__ import annotations

from datetime import date

from handlers.choices import choice
from handlers.context import StepContext
from handlers.dates import local_today, period_of, show_day, show_month
from handlers.flow import Transition
from handlers.messages import MAX_CHOICES, Choice, Reply
from handlers.stage_outputs import (
    MONITORED_STAGE,
    REPORT_COMMAND,
    STAGE_OUTPUTS,
    deadline,
    has_output,
)
from handlers.text import shorten
from storage.action_plans import plan_sizes
from storage.models import Idea, Programme
from storage.programmes import current_programme, span, stage_on
from storage.queries import ideas_of
from storage.reports import reported_ideas

MAX_IDEAS_SHOWN = 15  # a long list helps nobody in a chat; /ideku lists them all


def _calendar_lines(ctx: StepContext, programme: Programme, today: date) -> list[str]:
    t = ctx.t
    lines = [t("schedule.title", name=programme.name)]
    current = stage_on(programme, today)
    for stage in programme.stages:
        line = t(
            "schedule.stage",
            stage=t(f"stage.{stage.stage.value}"),
            starts=show_day(stage.starts, t.locale),
            ends=show_day(stage.ends, t.locale),
        )
        if current is not None and stage.id == current.id:
            line += " " + t("schedule.now_marker")
        lines.append(line)
    whole = span(programme)
    if current is not None:
        where = t("schedule.now_in", stage=t(f"stage.{current.stage.value}"))
    elif whole is not None and today < whole.starts:
        where = t("schedule.before", date=show_day(whole.starts, t.locale))
    elif whole is not None and today > whole.ends:
        where = t("schedule.after", date=show_day(whole.ends, t.locale))
    else:
        where = t("schedule.between")
    lines.append(where)
    return lines


async def _due_lines(
    ctx: StepContext, programme: Programme, today: date
) -> tuple[list[str], list[Choice]]:
    """What each of this person's ideas still owes, and buttons to start the missing steps."""
    t = ctx.t
    ideas: list[Idea] = await ideas_of(ctx.session, ctx.user.id)
    if not ideas:
        return [t("schedule.no_ideas")], []
    sizes = await plan_sizes(ctx.session, [i.id for i in ideas])
    period = period_of(today)
    reported = await reported_ideas(
        ctx.session, [i.id for i in ideas if i.stage is MONITORED_STAGE], period
    )
    lines = [t("schedule.yours")]
    buttons: list[Choice] = []
    for idea in ideas[:MAX_IDEAS_SHOWN]:
        lines.append(
            t("schedule.idea", id=idea.id, name=idea.name, stage=t(f"stage.{idea.stage.value}"))
        )
        missing_commands: list[str] = []
        outputs = [o for o in STAGE_OUTPUTS if idea.stage in o.idea_stages]
        for output in outputs:
            done = has_output(idea, output.output, sizes.get(idea.id, 0))
            due = deadline(programme, output)
            lines.append(
                t(
                    "schedule.output_done" if done else "schedule.output_missing",
                    output=t(f"schedule.output.{output.output.value}"),
                    date=show_day(due, t.locale) if due else t("schedule.no_date"),
                )
            )
            if not done and output.command not in missing_commands:
                missing_commands.append(output.command)
        if idea.stage is MONITORED_STAGE:
            done = idea.id in reported
            month = show_month(today.replace(day=1), t.locale)
            lines.append(
                t("schedule.report_done" if done else "schedule.report_missing", month=month)
            )
            if not done:
                missing_commands.append(REPORT_COMMAND)
        if not outputs and idea.stage is not MONITORED_STAGE:
            lines.append(t("schedule.nothing_due"))
        for command in missing_commands:
            if len(buttons) < MAX_CHOICES:
                key = (
                    "schedule.button_report"
                    if command == REPORT_COMMAND
                    else "schedule.button_plan"
                )
                label = t(key, name=shorten(idea.name, 40))
                buttons.append(choice(f"{command} {idea.id}", label))
    if len(ideas) > MAX_IDEAS_SHOWN:
        lines.append(t("schedule.more_ideas", count=len(ideas) - MAX_IDEAS_SHOWN))
    return lines, buttons


async def schedule_command(ctx: StepContext, args: str) -> Transition:
    today = local_today(ctx.now, ctx.timezone)
    programme = await current_programme(ctx.session, today)
    if programme is None:
        return Transition(say=[Reply(ctx.t("schedule.none"))])
    lines = _calendar_lines(ctx, programme, today)
    due, buttons = await _due_lines(ctx, programme, today)
    text = "\n".join(lines) + "\n\n" + "\n".join(due)
    return Transition(say=[Reply(text, choices=tuple(buttons))])
