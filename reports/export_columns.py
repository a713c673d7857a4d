"""The columns of the Direktori Inovasi export: one list, used by the XLSX and the CSV file.

Header labels come from the catalogues (``export.col.<key>``); values are built from one
:class:`IdeaRecord`, so both formats hold exactly the same fields in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from handlers.i18n import Translator
from handlers.indicators import Indicator, indicators
from reports.xlsx_stream import CellValue


@dataclass(frozen=True)
class Person:
    name: str
    nip: str


@dataclass(frozen=True)
class LatestReport:
    period: str  # "2027-03"
    progress: int
    done: str


@dataclass(frozen=True)
class EvidenFile:
    indicator: str | None
    file_name: str


@dataclass(frozen=True)
class IdeaRecord:
    """One idea with everything the export shows, read in batches (no ORM objects)."""

    id: int
    name: str
    stage: str
    status: str
    initiator: str | None
    is_digital: bool | None
    form: str | None
    affair: str | None
    opd: str | None
    problem: str
    idea: str
    goal: str | None
    benefit: str | None
    beneficiaries: str | None
    budget: int | None
    owner: Person | None
    collaborators: tuple[Person, ...]
    launch_date: date | None
    created_at: datetime
    report: LatestReport | None
    files: tuple[EvidenFile, ...]


Value = Callable[[IdeaRecord, Translator, ZoneInfo], CellValue]


@dataclass(frozen=True)
class Column:
    key: str  # the catalogue key is export.col.<key>
    width: float  # in Excel's character widths
    value: Value


def _label(prefix: str, code: str | None, t: Translator) -> str:
    return _label_in(prefix, code, t.locale) if code else ""


@cache
def _label_in(prefix: str, code: str, locale: str) -> str:
    t = Translator(locale)
    key = f"{prefix}.{code}"
    return t(key) if t.has(key) else code  # a code from an older list stays readable


def _digital(record: IdeaRecord, t: Translator, tz: ZoneInfo) -> str:
    if record.is_digital is None:
        return ""
    return t("digital.yes") if record.is_digital else t("digital.no")


def _people(people: tuple[Person, ...]) -> str:
    return "; ".join(f"{p.name} ({p.nip})" if p.nip else p.name for p in people)


COLUMNS: tuple[Column, ...] = (
    Column("id", 7, lambda r, t, tz: r.id),
    Column("name", 30, lambda r, t, tz: r.name),
    Column("stage", 12, lambda r, t, tz: _label("stage", r.stage, t)),
    Column("status", 14, lambda r, t, tz: _label("status", r.status, t)),
    Column("initiator", 18, lambda r, t, tz: _label("initiator", r.initiator, t)),
    Column("digital", 11, _digital),
    Column("form", 24, lambda r, t, tz: _label("form", r.form, t)),
    Column("affair", 24, lambda r, t, tz: _label("affair", r.affair, t)),
    Column("opd", 32, lambda r, t, tz: r.opd or ""),
    Column("problem", 50, lambda r, t, tz: r.problem),
    Column("idea", 50, lambda r, t, tz: r.idea),
    Column("goal", 40, lambda r, t, tz: r.goal or ""),
    Column("benefit", 40, lambda r, t, tz: r.benefit or ""),
    Column("beneficiaries", 30, lambda r, t, tz: r.beneficiaries or ""),
    Column("budget", 16, lambda r, t, tz: r.budget),
    Column("owner", 26, lambda r, t, tz: r.owner.name if r.owner else ""),
    # Text, never a number: an 18-digit NIP loses its last digits as a spreadsheet number.
    Column("owner_nip", 21, lambda r, t, tz: r.owner.nip if r.owner else ""),
    Column("collaborators", 40, lambda r, t, tz: _people(r.collaborators)),
    Column("launch_date", 13, lambda r, t, tz: r.launch_date),
    Column("created", 13, lambda r, t, tz: r.created_at.astimezone(tz).date()),
    Column("report_period", 12, lambda r, t, tz: r.report.period if r.report else ""),
    Column("report_progress", 11, lambda r, t, tz: r.report.progress if r.report else None),
    Column("report_done", 50, lambda r, t, tz: r.report.done if r.report else ""),
    Column("eviden_count", 10, lambda r, t, tz: len(r.files)),
)
FROZEN = "C2"  # the header row, and the id and name while scrolling right


def headers(t: Translator) -> list[str]:
    return [t(f"export.col.{c.key}") for c in COLUMNS]


def directory_row(record: IdeaRecord, t: Translator, tz: ZoneInfo) -> list[CellValue]:
    return [c.value(record, t, tz) for c in COLUMNS]


# -- the eviden inventory: one row per idea, one column per IID indicator ----------------------

INVENTORY_LEAD = (("id", 7.0), ("name", 30.0), ("opd", 26.0), ("missing_mandatory", 14.0))
INDICATOR_WIDTH = 24.0


def inventory_headers(t: Translator) -> list[str]:
    lead = [t(f"export.col.{key}") for key, _ in INVENTORY_LEAD]
    return lead + [_indicator_header(i, t) for i in indicators()]


def _indicator_header(indicator: Indicator, t: Translator) -> str:
    label = t(f"indicator.{indicator.code}")
    return t("export.mandatory", label=label) if indicator.mandatory else label


def inventory_widths() -> list[float]:
    return [w for _, w in INVENTORY_LEAD] + [INDICATOR_WIDTH] * len(indicators())


def inventory_row(record: IdeaRecord, t: Translator) -> list[CellValue]:
    """What each indicator has: "2: sk.pdf, foto.jpg", or "belum ada" (none yet)."""
    if not any(f.indicator for f in record.files):
        # Most ideas have no eviden yet: the same cells every time, made once per language.
        mandatory, nothing = _nothing_yet(t.locale, t("export.none_yet"))
        return [record.id, record.name, record.opd or "", mandatory, *nothing]
    by_indicator: dict[str, list[str]] = {}
    for file in record.files:
        if file.indicator:
            by_indicator.setdefault(file.indicator, []).append(file.file_name)
    missing = t("export.none_yet")
    cells: list[CellValue] = []
    missing_mandatory = 0
    for indicator in indicators():
        names = by_indicator.get(indicator.code)
        if names:
            cells.append(f"{len(names)}: {', '.join(names)}")
        else:
            cells.append(missing)
            missing_mandatory += indicator.mandatory
    return [record.id, record.name, record.opd or "", missing_mandatory, *cells]


@lru_cache(maxsize=8)
def _nothing_yet(locale: str, missing: str) -> tuple[int, tuple[str, ...]]:
    codes = indicators()
    return sum(i.mandatory for i in codes), (missing,) * len(codes)
