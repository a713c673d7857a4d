"""The calendar's commands: ``programme import|show``, ``holiday add|remove|list``, ``stage``.

Each returns an exit code: 0 done, 2 for a bad file or argument (the message on stderr).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.programme_import import (
    STAGE_LABELS,
    DatedStage,
    ProgrammeFileError,
    ProgrammePlan,
    parse_date,
    parse_stage,
    plan_import,
    read_programme_file,
)
from bot.calendar.working_time import WorkingTime, national_holidays
from bot.config import Settings
from handlers.stage_move import move_idea
from storage.db import Database
from storage.migrate import upgrade_to_head_async
from storage.models import ExtraHoliday, Idea, Programme, ProgrammeStage
from storage.programmes import all_programmes, current_programme, span, stage_on

MAX_REASON = 200  # ExtraHoliday.reason


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _today(settings: Settings) -> date:
    return datetime.now(settings.tz).date()


async def _database(settings: Settings) -> Database:
    await upgrade_to_head_async(settings.database_url)
    return Database(settings.database_url)


async def import_programmes(settings: Settings, path: Path) -> int:
    """Create or update the programmes of a file, all or nothing."""
    try:
        rows = read_programme_file(path)
    except ProgrammeFileError as exc:
        return _error(str(exc))
    database = await _database(settings)
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            programmes = {p.name: p for p in await all_programmes(session)}
            stored = {
                name: [DatedStage(s.stage, s.starts, s.ends) for s in p.stages]
                for name, p in programmes.items()
            }
            try:
                plans = plan_import(rows, stored)
            except ProgrammeFileError as exc:
                return _error(f"{path}: {exc}")
            lines = [_write_plan(session, plan, programmes.get(plan.name)) for plan in plans]
    finally:
        await database.dispose()
    for line in lines:
        print(line)
    print(f"programmes: {len(plans)} in the file, {len(rows)} stage rows")
    return 0


def _write_plan(session: AsyncSession, plan: ProgrammePlan, programme: Programme | None) -> str:
    if programme is None:
        programme = Programme(name=plan.name)
        session.add(programme)
        for s in plan.stages:
            programme.stages.append(ProgrammeStage(stage=s.stage, starts=s.starts, ends=s.ends))
        return f"{plan.name}: created with {len(plan.stages)} stages"
    by_stage = {s.stage: s for s in programme.stages}
    added = changed = 0
    for s in plan.stages:
        if s.row is None:
            continue  # stored, not in the file: kept as it is
        current = by_stage.get(s.stage)
        if current is None:
            programme.stages.append(ProgrammeStage(stage=s.stage, starts=s.starts, ends=s.ends))
            added += 1
        elif (current.starts, current.ends) != (s.starts, s.ends):
            current.starts, current.ends = s.starts, s.ends
            changed += 1
    if not added and not changed:
        return f"{plan.name}: unchanged"
    return f"{plan.name}: updated, {added} stages added, {changed} changed"


async def show_programmes(settings: Settings, today: date | None = None) -> int:
    """Every programme with its stage dates, and where ``today`` (local) falls."""
    today = today or _today(settings)
    database = await _database(settings)
    try:
        async with database.sessions() as session:
            programmes = await all_programmes(session)
            current = await current_programme(session, today)
    finally:
        await database.dispose()
    if not programmes:
        print("no programmes yet: python -m bot programme import FILE")
        return 0
    print(f"today: {today.isoformat()} ({settings.timezone})")
    for programme in programmes:
        whole = span(programme)
        dates = f"{whole.starts} – {whole.ends}" if whole else "no stages"
        mark = "  [current: new ideas join it]" if current and current.id == programme.id else ""
        print(f"\n{programme.name} ({dates}){mark}")
        for s in programme.stages:
            here = "  <- today" if s.starts <= today <= s.ends else ""
            print(f"  {STAGE_LABELS[s.stage]:<9} {s.starts} – {s.ends}{here}")
        print(f"  today: {_where(programme, today)}")
    return 0


def _where(programme: Programme, today: date) -> str:
    whole = span(programme)
    if whole is None:
        return "no dates"
    if today < whole.starts:
        return f"not started (starts {whole.starts})"
    if today > whole.ends:
        return f"finished (ended {whole.ends})"
    stage = stage_on(programme, today)
    if stage is None:
        return "between stages"
    return f"in {STAGE_LABELS[stage.stage]}"


async def add_holiday(settings: Settings, day_text: str, reason: str) -> int:
    """Close a day (a regional holiday, say); adding it again changes the reason."""
    day = parse_date(day_text)
    if day is None:
        return _error(f"not a date: {day_text!r} (use 2027-04-14, 14/04/2027 or 14 April 2027)")
    reason = " ".join(reason.split())
    if not reason:
        return _error('give a reason, e.g. "HUT Kabupaten"')
    if len(reason) > MAX_REASON:
        return _error(f"the reason is over {MAX_REASON} characters")
    database = await _database(settings)
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            holiday = await session.get(ExtraHoliday, day)
            if holiday is None:
                session.add(ExtraHoliday(day=day, reason=reason))
                verb = "added"
            else:
                holiday.reason = reason
                verb = "updated"
    finally:
        await database.dispose()
    # Without Bappeda's days: is it closed nationally anyway?
    already = WorkingTime(settings.tz).closed_reason(day)
    note = f" (closed anyway: {already})" if already else ""
    print(f"closed day {verb}: {day.isoformat()} {reason}{note}")
    return 0


async def remove_holiday(settings: Settings, day_text: str) -> int:
    day = parse_date(day_text)
    if day is None:
        return _error(f"not a date: {day_text!r} (use 2027-04-14, 14/04/2027 or 14 April 2027)")
    database = await _database(settings)
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            holiday = await session.get(ExtraHoliday, day)
            if holiday is not None:
                await session.delete(holiday)
    finally:
        await database.dispose()
    if holiday is None:
        return _error(f"{day.isoformat()} is not a day Bappeda added (see: holiday list)")
    print(f"closed day removed: {day.isoformat()} {holiday.reason}")
    return 0


async def list_holidays(settings: Settings, today: date | None = None) -> int:
    """Bappeda's closed days, then the national calendar of this year and the next."""
    today = today or _today(settings)
    database = await _database(settings)
    try:
        async with database.sessions() as session:
            extra = list(await session.scalars(select(ExtraHoliday).order_by(ExtraHoliday.day)))
    finally:
        await database.dispose()
    print("added by Bappeda:")
    for holiday in extra:
        print(f"  {holiday.day.isoformat()} {holiday.day:%a}  {holiday.reason}")
    if not extra:
        print("  none")
    years = (today.year, today.year + 1)
    print(f"national holidays and cuti bersama, {years[0]}-{years[1]} (holidays package):")
    for year in years:
        public = national_holidays(year, "public")
        joint = national_holidays(year, "government")
        for day in sorted(public.keys() | joint.keys()):
            kind = "public holiday" if day in public else "cuti bersama"
            name = "; ".join(n for n in (public.get(day), joint.get(day)) if n)
            print(f"  {day.isoformat()} {day:%a}  {kind:<14}  {name}")
    return 0


async def move_stage(
    settings: Settings, idea_id: int, stage_text: str, now: datetime | None = None
) -> int:
    """Move one idea to a stage and queue a message to its owner and collaborators."""
    stage = parse_stage(stage_text)
    if stage is None:
        return _error(f"unknown stage {stage_text!r} (expected {', '.join(STAGE_LABELS.values())})")
    now = now or datetime.now(UTC)
    database = await _database(settings)
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            idea = await session.get(Idea, idea_id)
            if idea is None:
                return _error(f"no idea #{idea_id}")
            if idea.stage is stage:
                print(
                    f"idea #{idea_id} «{idea.name}» is already in {STAGE_LABELS[stage]}; "
                    "nobody told"
                )
                return 0
            move = await move_idea(
                session, idea, stage, now, now.astimezone(settings.tz).date(), settings.locale
            )
    finally:
        await database.dispose()
    print(
        f"idea #{move.idea_id} «{move.idea_name}»: "
        f"{STAGE_LABELS[move.old]} -> {STAGE_LABELS[move.new]}"
    )
    told = ", ".join(f"{p.name} ({p.channel})" for p in move.told) or "nobody"
    print(f"queued in the outbox for: {told}")
    if move.unreachable:
        names = ", ".join(f"{name} (user #{uid})" for uid, name in move.unreachable)
        print(f"not told, no reachable channel: {names}")
    return 0
