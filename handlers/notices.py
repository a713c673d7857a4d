"""What SASI says first: stage reminders and the monthly monitoring messages.

Channel-agnostic like every step: each function returns the replies (with the button that
starts the missing step) and the WhatsApp template to use when the 24-hour window is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from babel.dates import format_date

from handlers.choices import choice
from handlers.i18n import Translator
from handlers.indicators import Indicator
from handlers.messages import Reply, TemplateCall
from handlers.stage_outputs import REPORT_COMMAND, StageOutput


@dataclass(frozen=True)
class Notice:
    replies: tuple[Reply, ...]
    template: TemplateCall


def long_date(t: Translator, day: date) -> str:
    """ "31 Mei 2027" / "31 May 2027"."""
    return format_date(day, "d MMMM y", locale=t.locale)


def month_name(t: Translator, period: str) -> str:
    """ "2027-03" → "Maret 2027"."""
    year, month = (int(part) for part in period.split("-"))
    return format_date(date(year, month, 1), "MMMM y", locale=t.locale)


def stage_reminder(
    t: Translator,
    *,
    person: str,
    idea_id: int,
    idea_name: str,
    output: StageOutput,
    deadline: date,
    days_before: int,
) -> Notice:
    key = output.output.value
    when = long_date(t, deadline)
    text = t(f"notice.reminder.{key}", name=idea_name, deadline=when, days=days_before)
    button = choice(f"{output.command} {idea_id}", t(f"notice.button.{key}"))
    stage = t(f"stage.{output.stage.value}")
    return Notice(
        (Reply(text, choices=(button,)),),
        TemplateCall("stage_reminder", (person, idea_name, stage, when)),
    )


def monitoring_prompt(
    t: Translator,
    *,
    person: str,
    idea_id: int,
    idea_name: str,
    period: str,
    missing: Sequence[Indicator],
) -> Notice:
    month = month_name(t, period)
    text = t("notice.monitoring", name=idea_name, month=month)
    if missing:
        names = ", ".join(t(f"indicator.{i.code}") for i in missing[:5])
        text += "\n\n" + t("notice.monitoring_missing", indicators=names)
    button = choice(f"{REPORT_COMMAND} {idea_id} {period}", t("notice.button.report"))
    return Notice(
        (Reply(text, choices=(button,)),),
        TemplateCall("monitoring_prompt", (person, idea_name, month)),
    )


def monitoring_follow_up(
    t: Translator, *, person: str, idea_id: int, idea_name: str, period: str
) -> Notice:
    text = t("notice.follow_up", name=idea_name, month=month_name(t, period))
    button = choice(f"{REPORT_COMMAND} {idea_id} {period}", t("notice.button.report"))
    return Notice(
        (Reply(text, choices=(button,)),),
        TemplateCall("monitoring_followup", (person, idea_name)),
    )


def monitoring_escalation(
    t: Translator,
    *,
    coordinator: str,
    opd: str,
    period: str,
    overdue: Sequence[tuple[int, str, str]],
) -> Notice:
    """``overdue``: (idea id, idea name, owner name) of the OPD's ideas without a report."""
    month = month_name(t, period)
    lines = "\n".join(
        t("notice.escalation_item", id=idea_id, name=name, owner=owner)
        for idea_id, name, owner in overdue
    )
    text = t("notice.escalation", month=month, count=len(overdue), opd=opd, ideas=lines)
    return Notice(
        (Reply(text),),
        TemplateCall("monitoring_escalation", (coordinator, str(len(overdue)), month)),
    )
