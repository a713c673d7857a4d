"""Months and days as people type them ("Maret 2027", "03/2027", "15 Juli 2027"), and as shown.

Parsing accepts Indonesian and English month names, their usual abbreviations and numeric
forms; showing uses Babel, so "31 Mei 2027" in Indonesian and "31 May 2027" in English.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

MONTH_NAMES: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("januari", "january", "jan"),
            ("februari", "pebruari", "february", "feb", "peb"),
            ("maret", "march", "mar"),
            ("april", "apr"),
            ("mei", "may"),
            ("juni", "june", "jun"),
            ("juli", "july", "jul"),
            ("agustus", "august", "agu", "agt", "aug", "ags"),
            ("september", "sep", "sept"),
            ("oktober", "october", "okt", "oct"),
            ("november", "nopember", "nov", "nop"),
            ("desember", "december", "des", "dec"),
        ),
        start=1,
    )
    for name in names
}
MIN_YEAR, MAX_YEAR = 2000, 2100

_SEP = r"\s*[/\-.]\s*"
_NAMED_MONTH = re.compile(r"^([a-z]+)\.?,?\s*(\d{4})$")
_MONTH_YEAR = re.compile(rf"^(\d{{1,2}}){_SEP}(\d{{4}})$")
_YEAR_MONTH = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}})$")
_NAMED_DAY = re.compile(r"^(\d{1,2})\s*([a-z]+)\.?,?\s*(\d{4})$")
_DAY_MONTH_YEAR = re.compile(rf"^(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{4}})$")
_YEAR_MONTH_DAY = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})$")
PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def _normal(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _month(year: int, month: int, day: int = 1) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_month(text: str) -> date | None:
    """The first day of the month typed, or None when it is not a month."""
    value = _normal(text)
    if match := _NAMED_MONTH.match(value):
        number = MONTH_NAMES.get(match.group(1))
        return _month(int(match.group(2)), number) if number else None
    if match := _MONTH_YEAR.match(value):
        return _month(int(match.group(2)), int(match.group(1)))
    if match := _YEAR_MONTH.match(value):
        return _month(int(match.group(1)), int(match.group(2)))
    return None


def parse_day(text: str) -> date | None:
    """The day typed ("15 Juli 2027", "15/07/2027", "2027-07-15", "15-7-2027"), or None."""
    value = _normal(text)
    if match := _NAMED_DAY.match(value):
        number = MONTH_NAMES.get(match.group(2))
        return _month(int(match.group(3)), number, int(match.group(1))) if number else None
    if match := _DAY_MONTH_YEAR.match(value):
        return _month(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    if match := _YEAR_MONTH_DAY.match(value):
        return _month(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    return None


def parse_period(text: str) -> date | None:
    """``"2027-03"`` (a monitoring period) → the first day of that month."""
    match = PERIOD.match(text.strip())
    return _month(int(match.group(1)), int(match.group(2))) if match else None


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def local_today(now: datetime, timezone: ZoneInfo) -> date:
    return now.astimezone(timezone).date()


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def show_day(day: date, locale: str) -> str:
    """``31 Mei 2027`` / ``31 May 2027``."""
    return format_date(day, "d MMMM yyyy", locale=locale)


def show_month(day: date, locale: str) -> str:
    """``Maret 2027`` / ``March 2027``."""
    return format_date(day, "LLLL yyyy", locale=locale)
