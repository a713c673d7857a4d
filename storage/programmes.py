"""Programmes and their 5D stage dates: which one is current, which stage it is in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ExtraHoliday, Programme, ProgrammeStage


@dataclass(frozen=True)
class ProgrammeSpan:
    programme: Programme
    starts: date
    ends: date


def span(programme: Programme) -> ProgrammeSpan | None:
    if not programme.stages:
        return None
    return ProgrammeSpan(
        programme,
        min(s.starts for s in programme.stages),
        max(s.ends for s in programme.stages),
    )


async def all_programmes(session: AsyncSession) -> list[Programme]:
    rows = await session.scalars(select(Programme).order_by(Programme.id))
    return list(rows)


async def programme_by_name(session: AsyncSession, name: str) -> Programme | None:
    return await session.scalar(
        select(Programme).where(func.lower(Programme.name) == name.strip().lower())
    )


async def current_programme(session: AsyncSession, today: date) -> Programme | None:
    """The programme running today; else the next to start; else the last one that ran.

    New ideas belong to it, and ``/jadwal`` shows it.
    """
    spans = [s for p in await all_programmes(session) if (s := span(p)) is not None]
    running = [s for s in spans if s.starts <= today <= s.ends]
    if running:
        return running[0].programme
    upcoming = sorted((s for s in spans if s.starts > today), key=lambda s: s.starts)
    if upcoming:
        return upcoming[0].programme
    past = sorted((s for s in spans if s.ends < today), key=lambda s: s.ends)
    return past[-1].programme if past else None


def stage_on(programme: Programme, day: date) -> ProgrammeStage | None:
    """The stage whose dates include ``day`` (None between stages, before or after)."""
    return next((s for s in programme.stages if s.starts <= day <= s.ends), None)


async def extra_holidays(session: AsyncSession) -> dict[date, str]:
    """Closed days Bappeda added, with their reasons."""
    rows = await session.execute(select(ExtraHoliday.day, ExtraHoliday.reason))
    return {day: reason for day, reason in rows}
