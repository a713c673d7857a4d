"""Working time in the Pemda's zone: when an automated message may go out.

Closed: weekends, Indonesian public holidays and cuti bersama (the ``holidays`` package's
``ID`` calendar, categories ``public`` and ``government``), and the days Bappeda adds.
Quiet: the hours between ``quiet_start`` and ``quiet_end`` local time (20:00–07:00 by
default); a start equal to the end means no quiet hours. Indonesia has no daylight saving,
so a local wall time maps to one instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy.ext.asyncio import AsyncSession

from storage.programmes import extra_holidays

HOLIDAY_CATEGORIES = ("public", "government")  # government = cuti bersama
HOLIDAY_LANGUAGE = "id"  # Bappeda reads the names; pinned so the locale never changes them
# A search for an open instant gives up after this many days: only a misconfiguration
# (every day closed) gets that far.
SEARCH_LIMIT_DAYS = 3660
_NO_DAYS: Mapping[date, str] = MappingProxyType({})


def national_holidays(year: int, category: str) -> dict[date, str]:
    """The holidays of one category (``public`` or ``government``) in one year, by name."""
    calendar = holidays.country_holidays(
        "ID", years=year, categories=(category,), language=HOLIDAY_LANGUAGE
    )
    return dict(calendar.items())


class WorkingTime:
    """Working days and open hours of one Pemda."""

    def __init__(
        self,
        tz: ZoneInfo,
        extra_holidays: Mapping[date, str] = _NO_DAYS,
        quiet_start: time = time(20, 0),
        quiet_end: time = time(7, 0),
    ) -> None:
        self.tz = tz
        self.extra_holidays = dict(extra_holidays)
        self.quiet_start = quiet_start.replace(tzinfo=None)
        self.quiet_end = quiet_end.replace(tzinfo=None)
        self._years: dict[int, dict[date, str]] = {}

    def _holidays(self, year: int) -> dict[date, str]:
        # The package computes a whole year at a time; a scheduler asks about the same year
        # thousands of times.
        cached = self._years.get(year)
        if cached is None:
            calendar = holidays.country_holidays(
                "ID", years=year, categories=HOLIDAY_CATEGORIES, language=HOLIDAY_LANGUAGE
            )
            cached = self._years[year] = dict(calendar.items())
        return cached

    def closed_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day ("weekend", a holiday's name, Bappeda's reason),
        or None when it is one."""
        if day in self.extra_holidays:
            return self.extra_holidays[day]
        national = self._holidays(day.year).get(day)
        if national is not None:
            return national
        if day.weekday() >= 5:
            return "weekend"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def is_quiet(self, moment: time) -> bool:
        """Whether a local wall time falls in the quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start > end:  # spans midnight, e.g. 20:00–07:00
            return moment >= start or moment < end
        return start <= moment < end

    def is_open(self, moment: datetime) -> bool:
        """A working day and outside quiet hours, in the Pemda's zone."""
        local = self._local(moment)
        return self.is_working_day(local.date()) and not self.is_quiet(local.time())

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` itself when open, else the next open instant; UTC-aware either way."""
        local = self._local(moment)
        if self.is_working_day(local.date()) and not self.is_quiet(local.time()):
            return moment.astimezone(UTC)
        day, earliest = local.date(), local.time().replace(tzinfo=None)
        for _ in range(SEARCH_LIMIT_DAYS):
            if self.is_working_day(day):
                opening = self._first_open_from(earliest)
                if opening is not None:
                    found = datetime.combine(day, opening, tzinfo=self.tz).astimezone(UTC)
                    # A safety net: the contract is never earlier than asked.
                    return max(found, moment.astimezone(UTC))
            day, earliest = day + timedelta(days=1), time(0, 0)
        raise ValueError(f"no open time within {SEARCH_LIMIT_DAYS} days of {moment.isoformat()}")

    def _first_open_from(self, earliest: time) -> time | None:
        """The first open wall time at or after ``earliest`` on a working day, if any."""
        if not self.is_quiet(earliest):
            return earliest
        start, end = self.quiet_start, self.quiet_end
        if start > end and earliest >= start:
            return None  # quiet until tomorrow morning
        return end

    def working_days_before(self, day: date, n: int) -> date:
        """The working day ``n`` working days before ``day`` (1: the last one before it;
        0: ``day`` itself)."""
        return self._step(day, n, -1)

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (0: ``day`` itself)."""
        return self._step(day, n, 1)

    def nth_working_day(self, year: int, month: int, n: int) -> date:
        """The ``n``-th (n ≥ 1) working day of a month."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        day = date(year, month, 1)
        found = 0
        while day.month == month:
            if self.is_working_day(day):
                found += 1
                if found == n:
                    return day
            day += timedelta(days=1)
        raise ValueError(f"{year}-{month:02d} has only {found} working days, not {n}")

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """Local wall time on ``day``, as a UTC-aware datetime."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.tz).astimezone(UTC)

    def _step(self, day: date, n: int, direction: int) -> date:
        if n < 0:
            raise ValueError(f"n must not be negative, not {n}")
        for _ in range(n):
            day += timedelta(days=direction)
            for _ in range(SEARCH_LIMIT_DAYS):
                if self.is_working_day(day):
                    break
                day += timedelta(days=direction)
            else:
                raise ValueError(f"no working day within {SEARCH_LIMIT_DAYS} days of {day}")
        return day

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("naive datetime: give an aware one (UTC or a zone)")
        return moment.astimezone(self.tz)


async def load_working_time(
    session: AsyncSession,
    tz: ZoneInfo,
    quiet_start: time = time(20, 0),
    quiet_end: time = time(7, 0),
) -> WorkingTime:
    """The working time with the closed days Bappeda added (read now, once)."""
    return WorkingTime(tz, await extra_holidays(session), quiet_start, quiet_end)
