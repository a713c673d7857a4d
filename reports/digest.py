"""The weekly digest: the programme's figures as a few lines a phone shows without scrolling.

The details (the funnel, the OPDs furthest behind) go into the chart image
(reports/chart.py); the text names only what someone should act on. Every word comes from
the catalogues, every number is formatted for the reader's language.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_percent
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Translator
from handlers.indicators import indicators
from storage.figures import Apart, ProgrammeFigures, Window, programme_figures
from storage.models import IdeaStatus, SimilarityDecisionKind, Stage

# During a month's first week its reports are barely asked for: the digest shows the month
# before, whose numbers are final (the scheduler never asks about it again).
FINAL_MONTH_DAYS = 7
MAX_NAMED_OPDS = 5  # OPDs without ideas, overdue OPDs: the rest are counted, not named
MAX_LISTED = 3  # obstacles, missing eviden


@dataclass(frozen=True)
class Digest:
    figures: ProgrammeFigures
    moment: datetime
    local_day: date  # the day of ``moment`` in the Pemda's zone
    scope_label: str | None  # the OPDs' short names for a coordinator; None for the Pemda


def monitoring_period(local_day: date) -> tuple[str, date]:
    """The month whose monitoring the digest shows, and the last launch date counted due."""
    if local_day.day <= FINAL_MONTH_DAYS:
        last = local_day.replace(day=1) - timedelta(days=1)
        return f"{last.year:04d}-{last.month:02d}", last
    return f"{local_day.year:04d}-{local_day.month:02d}", local_day


async def build_digest(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    moment: datetime,
    tz: ZoneInfo,
    scope_label: str | None = None,
    apart: Apart | None = None,
) -> Digest:
    """The figures of the week before ``moment`` for ``scope`` (None: the whole Pemda)."""
    local_day = moment.astimezone(tz).date()
    period, launched_by = monitoring_period(local_day)
    figures = await programme_figures(
        session,
        scope=scope,
        window=Window.week_before(moment),
        period=period,
        launched_by=launched_by,
        overdue_limit=0,
        apart=apart,
    )
    return Digest(figures, moment, local_day, scope_label)


def _percent(t: Translator, share: float | None) -> str:
    return "-" if share is None else format_percent(share, locale=t.locale)


def _names(t: Translator, names: list[str], total: int) -> str:
    shown = ", ".join(names[:MAX_NAMED_OPDS])
    if total > MAX_NAMED_OPDS:
        shown = t("digest.and_more", names=shown, more=t.number(total - MAX_NAMED_OPDS))
    return shown


def week_label(digest: Digest, t: Translator) -> str:
    """ "8 Mar – 14 Mar 2027": the seven days the digest looks back on."""
    return t(
        "digest.week",
        start=format_date(digest.local_day - timedelta(days=7), "d MMM", locale=t.locale),
        end=format_date(digest.local_day - timedelta(days=1), "d MMM yyyy", locale=t.locale),
    )


def digest_text(digest: Digest, t: Translator, *, pemda: str | None = None) -> str:
    """The digest's words in ``t``'s language."""
    f = digest.figures
    n = t.number
    week = week_label(digest, t)
    who = digest.scope_label or pemda or t("digest.whole_pemda")
    lines = [t("digest.title", scope=who, week=week)]
    lines.append(t("digest.new_ideas", new=n(f.new_ideas), total=n(f.total_ideas)))
    stages = f.stage_counts()
    lines.append(
        t(
            "digest.stages",
            stages=" · ".join(f"{t(f'stage.{s.value}')} {n(stages[s])}" for s in Stage),
        )
    )
    statuses = f.status_counts()
    lines.append(
        t(
            "digest.statuses",
            statuses=" · ".join(
                f"{t(f'status.{s.value}')} {n(statuses[s])}" for s in IdeaStatus if statuses[s]
            )
            or "-",
        )
    )
    if f.roster_asn:
        lines.append(
            t(
                "digest.participation",
                asn=n(f.asn_with_idea),
                roster=n(f.roster_asn),
                share=_percent(t, f.asn_with_idea / f.roster_asn if f.roster_asn else None),
                officials=n(f.officials_with_idea),
                roster_officials=n(f.roster_officials),
                officials_share=_percent(
                    t, f.officials_with_idea / f.roster_officials if f.roster_officials else None
                ),
            )
        )
    else:
        lines.append(t("digest.no_roster"))
    idle = f.opds_without_ideas
    if idle:
        names = [o.short_name for o in idle]
        lines.append(
            t("digest.opds_without", count=n(len(idle)), names=_names(t, names, len(idle)))
        )
    decided = sum(f.duplicates.values())
    if decided:
        kinds = ", ".join(
            f"{t(f'digest.decision.{k.value}')} {n(f.duplicates[k])}"
            for k in SimilarityDecisionKind
            if f.duplicates[k]
        )
        lines.append(t("digest.duplicates", count=n(decided), kinds=kinds))
    else:
        lines.append(t("digest.no_duplicates"))
    lines.extend(_monitoring_lines(f, t))
    if f.obstacles:
        top = list(f.obstacles.items())[:MAX_LISTED]
        lines.append(
            t(
                "digest.obstacles",
                obstacles=", ".join(f"{_obstacle(t, code)} {n(count)}" for code, count in top),
            )
        )
    missing = [e for e in f.missing_eviden(indicators()) if e.missing]
    if missing:
        # Mandatory indicators first, then those most often missing.
        missing.sort(key=lambda e: (not e.mandatory, -e.missing))
        lines.append(
            t(
                "digest.eviden",
                ideas=n(f.eviden_ideas),
                missing=", ".join(
                    f"{_indicator(t, e.indicator)} {n(e.missing)}" for e in missing[:MAX_LISTED]
                ),
            )
        )
    lines.append(t("digest.chart_attached"))
    return "\n".join(lines)


def _monitoring_lines(f: ProgrammeFigures, t: Translator) -> list[str]:
    m = f.monitoring
    month = format_date(date.fromisoformat(m.period + "-01"), "LLLL yyyy", locale=t.locale)
    if not m.due:
        return [t("digest.monitoring_none", month=month)]
    lines = [
        t(
            "digest.monitoring",
            month=month,
            reported=t.number(m.reported),
            due=t.number(m.due),
            rate=_percent(t, m.response_rate),
        )
    ]
    if m.overdue_by_opd:
        names = {o.opd_id: o.short_name for o in f.opds}
        worst = sorted(m.overdue_by_opd.items(), key=lambda item: -item[1])
        shown = [
            f"{names.get(opd_id, '-') if opd_id else t('digest.no_opd')} {t.number(count)}"
            for opd_id, count in worst
        ]
        lines.append(t("digest.overdue", overdue=_names(t, shown, len(shown))))
    return lines


def _obstacle(t: Translator, code: str) -> str:
    key = f"obstacle.{code}"
    return t(key) if t.has(key) else code


def _indicator(t: Translator, code: str) -> str:
    key = f"digest.indicator.{code}"
    if t.has(key):
        return t(key)
    key = f"indicator.{code}"
    return t(key).split(" (")[0] if t.has(key) else code
