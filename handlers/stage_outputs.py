"""What each 5D stage asks of an idea's owner, and by when: written down in one place.

The reminders, ``/jadwal`` and the monthly monitoring all read this table.

- Design: the rencana aksi (milestones by month), before Design ends;
- Deliver: a launch date, before Deliver starts; then a monitoring report every month
  while the idea is in Deliver.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Literal

from storage.models import Idea, Programme, Stage


class Output(enum.StrEnum):
    ACTION_PLAN = "action_plan"
    LAUNCH_DATE = "launch_date"
    MONTHLY_REPORT = "monthly_report"


@dataclass(frozen=True)
class StageOutput:
    """``output`` is due from ideas in ``idea_stages`` by the ``edge`` of ``stage``."""

    stage: Stage  # names the reminder: reminder:<idea>:<stage>:<days>
    output: Output
    idea_stages: tuple[Stage, ...]
    edge: Literal["starts", "ends"]
    command: str  # the conversation that produces it


STAGE_OUTPUTS: tuple[StageOutput, ...] = (
    StageOutput(Stage.DESIGN, Output.ACTION_PLAN, (Stage.DESIGN,), "ends", "/rencana"),
    StageOutput(
        Stage.DELIVER, Output.LAUNCH_DATE, (Stage.DESIGN, Stage.DELIVER), "starts", "/rencana"
    ),
)
# Monthly reports are due from ideas in this stage (see bot/scheduler for when).
MONITORED_STAGE = Stage.DELIVER
REPORT_COMMAND = "/lapor"


def output_for(stage: Stage) -> StageOutput | None:
    return next((o for o in STAGE_OUTPUTS if o.stage is stage), None)


def deadline(programme: Programme, output: StageOutput) -> date | None:
    """The last day (local) the output may come, from the programme's dates."""
    for stage in programme.stages:
        if stage.stage is output.stage:
            if output.edge == "ends":
                return stage.ends
            # Due before the stage starts: the day before is the last one.
            return date.fromordinal(stage.starts.toordinal() - 1)
    return None


def has_output(idea: Idea, output: Output, action_plan_items: int) -> bool:
    """Whether the idea has produced ``output`` (monthly reports are per period)."""
    if output is Output.ACTION_PLAN:
        return action_plan_items > 0
    if output is Output.LAUNCH_DATE:
        return idea.launch_date is not None
    raise ValueError("monthly reports are checked per period")
