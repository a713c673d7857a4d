"""Working time: the 2027 Indonesian calendar, Bappeda's days, quiet hours in WIB/WITA/WIT."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.working_time import WorkingTime, load_working_time
from storage.db import Database
from storage.models import ExtraHoliday

WIB = ZoneInfo("Asia/Jakarta")
WITA = ZoneInfo("Asia/Makassar")
WIT = ZoneInfo("Asia/Jayapura")


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=WIB)  # type: ignore[misc]


@pytest.fixture
def wt() -> WorkingTime:
    return WorkingTime(WIB)


def test_2027_idul_fitri_block_and_cuti_bersama_are_closed(wt: WorkingTime) -> None:
    # 2027-03-08 Nyepi, 09 cuti bersama, 10-11 Idul Fitri, 12 cuti bersama, 13-14 the
    # weekend, 15 cuti bersama: the package's 2027 calendar.
    for day in range(8, 16):
        assert not wt.is_working_day(date(2027, 3, day)), day
    assert "Cuti Bersama" in (wt.closed_reason(date(2027, 3, 9)) or "")
    assert "Idul Fitri" in (wt.closed_reason(date(2027, 3, 10)) or "")
    assert wt.closed_reason(date(2027, 3, 13)) == "weekend"
    assert wt.is_working_day(date(2027, 3, 5)) and wt.is_working_day(date(2027, 3, 16))


def test_independence_day_weekends_and_ordinary_days(wt: WorkingTime) -> None:
    assert "Kemerdekaan" in (wt.closed_reason(date(2027, 8, 17)) or "")
    assert wt.closed_reason(date(2027, 8, 14)) == "weekend"  # a Saturday
    assert wt.closed_reason(date(2027, 8, 15)) is not None  # Sunday and Maulid Nabi
    assert wt.closed_reason(date(2027, 8, 16)) is None
    assert wt.closed_reason(date(2027, 8, 18)) is None


def test_a_day_bappeda_adds_is_closed_with_its_reason() -> None:
    wt = WorkingTime(WIB, {date(2027, 4, 14): "HUT Kabupaten Sukamaju"})
    assert wt.closed_reason(date(2027, 4, 14)) == "HUT Kabupaten Sukamaju"
    assert not wt.is_open(wib(2027, 4, 14, 10))
    assert wt.next_open(wib(2027, 4, 14, 10)) == wib(2027, 4, 15, 7)


@pytest.mark.parametrize(
    ("zone", "hour", "is_open"),
    [
        (WIB, 6, False),
        (WIB, 7, True),
        (WIB, 19, True),
        (WIB, 20, False),
        (WITA, 6, False),
        (WITA, 7, True),
        (WITA, 20, False),
        (WIT, 6, False),
        (WIT, 7, True),
        (WIT, 19, True),
        (WIT, 20, False),
    ],
)
def test_quiet_hours_are_local(zone: ZoneInfo, hour: int, is_open: bool) -> None:
    wt = WorkingTime(zone)
    assert wt.is_open(datetime(2027, 4, 6, hour, tzinfo=zone)) is is_open  # a Tuesday


def test_the_same_instant_is_open_in_one_zone_and_quiet_in_another() -> None:
    # 07:00 WIB is 09:00 WIT and 08:00 WITA; 06:30 WIB is 08:30 WIT.
    early = wib(2027, 4, 6, 6, 30)
    assert not WorkingTime(WIB).is_open(early)
    assert WorkingTime(WITA).is_open(early)
    assert WorkingTime(WIT).is_open(early)
    # 19:30 WIB is 21:30 WIT: quiet in Papua, open in Jakarta.
    late = wib(2027, 4, 6, 19, 30)
    assert WorkingTime(WIB).is_open(late) and not WorkingTime(WIT).is_open(late)
    assert WorkingTime(WIT).at(date(2027, 4, 6), 9) == wib(2027, 4, 6, 7)


def test_is_open_takes_any_zone_and_refuses_naive(wt: WorkingTime) -> None:
    assert wt.is_open(datetime(2027, 4, 6, 3, tzinfo=UTC))  # 10:00 WIB
    with pytest.raises(ValueError, match="naive"):
        wt.is_open(datetime(2027, 4, 6, 10))


def test_next_open_from_friday_evening_is_monday_morning(wt: WorkingTime) -> None:
    friday = wib(2027, 4, 9, 20, 30)
    monday = wt.next_open(friday)
    assert monday == wib(2027, 4, 12, 7)
    assert monday.tzinfo is UTC


def test_next_open_skips_a_holiday_block(wt: WorkingTime) -> None:
    # Friday 2027-03-05 evening: Nyepi, Idul Fitri and cuti bersama close 8-15 March.
    assert wt.next_open(wib(2027, 3, 5, 21)) == wib(2027, 3, 16, 7)
    assert wt.next_open(wib(2027, 3, 11, 12)) == wib(2027, 3, 16, 7)


def test_next_open_before_the_morning_is_the_same_day(wt: WorkingTime) -> None:
    assert wt.next_open(wib(2027, 4, 6, 0, 15)) == wib(2027, 4, 6, 7)
    assert wt.next_open(wib(2027, 4, 6, 6, 59, 59)) == wib(2027, 4, 6, 7)


def test_next_open_of_an_open_moment_is_itself(wt: WorkingTime) -> None:
    moment = wib(2027, 4, 6, 10, 0, 0) + timedelta(microseconds=1)
    assert wt.next_open(moment) == moment


def test_next_open_is_open_and_never_earlier(wt: WorkingTime) -> None:
    # Every 37 minutes over two weeks around the Idul Fitri block and two weekends.
    for minutes in range(0, 14 * 24 * 60, 37):
        moment = wib(2027, 3, 4, 0, 0) + timedelta(minutes=minutes)
        found = wt.next_open(moment)
        assert found >= moment and wt.is_open(found), moment
        if found > moment:  # it is the first open instant: a minute before it is closed
            assert not wt.is_open(max(moment, found - timedelta(minutes=1))), moment


def test_no_quiet_hours_when_start_equals_end() -> None:
    wt = WorkingTime(WIB, quiet_start=time(0, 0), quiet_end=time(0, 0))
    assert wt.is_open(wib(2027, 4, 6, 23, 30)) and wt.is_open(wib(2027, 4, 6, 3))
    assert wt.next_open(wib(2027, 4, 9, 23, 0)) == wib(2027, 4, 9, 23, 0)  # Friday night
    assert wt.next_open(wib(2027, 4, 10, 23, 0)) == wib(2027, 4, 12, 0, 0)  # Saturday


def test_quiet_hours_within_one_day() -> None:
    wt = WorkingTime(WIB, quiet_start=time(12, 0), quiet_end=time(13, 0))
    assert wt.is_open(wib(2027, 4, 6, 11, 59)) and not wt.is_open(wib(2027, 4, 6, 12, 30))
    assert wt.next_open(wib(2027, 4, 6, 12, 30)) == wib(2027, 4, 6, 13)
    assert wt.is_open(wib(2027, 4, 6, 23, 0))


def test_working_days_before_and_after(wt: WorkingTime) -> None:
    # Before Tuesday 2027-03-16: Monday 15 to Monday 8 are closed, so Friday 5 March.
    assert wt.working_days_before(date(2027, 3, 16), 1) == date(2027, 3, 5)
    assert wt.working_days_before(date(2027, 3, 16), 3) == date(2027, 3, 3)
    assert wt.working_days_before(date(2027, 4, 12), 1) == date(2027, 4, 9)
    assert wt.add_working_days(date(2027, 3, 5), 1) == date(2027, 3, 16)
    assert wt.add_working_days(date(2027, 4, 9), 3) == date(2027, 4, 14)
    assert wt.add_working_days(date(2027, 4, 9), 0) == date(2027, 4, 9)
    with pytest.raises(ValueError):
        wt.add_working_days(date(2027, 4, 9), -1)


def test_nth_working_day_of_a_month(wt: WorkingTime) -> None:
    assert wt.nth_working_day(2027, 1, 1) == date(2027, 1, 4)  # 1 Jan a holiday, then a weekend
    assert wt.nth_working_day(2027, 1, 2) == date(2027, 1, 6)  # 5 Jan: Isra Mikraj
    assert wt.nth_working_day(2027, 8, 1) == date(2027, 8, 2)
    with pytest.raises(ValueError):
        wt.nth_working_day(2027, 3, 40)


def test_at_is_local_wall_time(wt: WorkingTime) -> None:
    assert wt.at(date(2027, 4, 6), 9) == datetime(2027, 4, 6, 2, tzinfo=UTC)
    assert WorkingTime(WITA).at(date(2027, 4, 6), 9, 30) == datetime(2027, 4, 6, 1, 30, tzinfo=UTC)


async def test_load_working_time_reads_bappeda_days(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.sessions() as session, session.begin():
            session.add(ExtraHoliday(day=date(2027, 4, 14), reason="HUT Kabupaten"))
        async with database.sessions() as session:
            wt = await load_working_time(session, WIT, time(21, 0), time(6, 0))
        assert wt.closed_reason(date(2027, 4, 14)) == "HUT Kabupaten"
        assert wt.is_open(datetime(2027, 4, 15, 6, 30, tzinfo=WIT))
    finally:
        await database.dispose()
