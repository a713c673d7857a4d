"""The weekly digest as outbox rows: when it is due, to whom, and its words at send time.

Due once a week at ``SASI_DIGEST_AT`` (default Monday 07:30 local), moved to the first
working moment at or after it: a holiday Monday sends it on Tuesday at 07:30. Rows:

- ``digest:<2027-W11>:<channel>:<chat>`` for each of ``SASI_BAPPEDA_CHATS`` and each
  Bappeda officer's private chat (where SASI writes to them first), kind ``digest``;
- ``push:digest:<2027-W11>`` on channel ``push`` when ``SASI_BAPPEDA_PUSH_URL`` is set.

The chat rows hold only what they are about (the week, its moment); the words and chart
are composed when the row is sent, in each recipient's language, so a tick that finds the
digest due costs a key lookup, not a digest. The push row holds its whole JSON body,
frozen when it falls due: a retry must send the same bytes (bot/push/).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.working_time import WorkingTime
from bot.config import Settings
from handlers.i18n import Translator
from handlers.messages import OutgoingFile, Reply, TemplateCall
from reports.chart import chart_file
from reports.digest import Digest, build_digest, digest_text, week_label
from reports.push_body import push_body
from storage.db import Database
from storage.figures import participation_apart
from storage.models import Role, User, UserRole
from storage.outbox import Claimed, NewMessage, OutboxMessage
from storage.queries import preferred_identity

DIGEST_KIND = "digest"
PUSH_KIND = "digest_push"
PUSH_CHANNEL = "push"
PRIORITY = 6  # after replies, reminders and prompts: nobody waits for it
# Every recipient's row is composed on its own; one digest serves them all for this long.
CACHE_SECONDS = 300.0
Composed = tuple[list[Reply], TemplateCall | None]


@dataclass(frozen=True)
class DigestSlot:
    week: str  # "2027-W11": the ISO week of the configured day
    moment: datetime  # when it is due (UTC)
    week_ends: datetime  # the next week's start (UTC): a digest not out by then is skipped


def digest_slot(settings: Settings, hours: WorkingTime, now: datetime) -> DigestSlot | None:
    """This week's digest moment (which may still be ahead of ``now``); None when the rest
    of the week has no working day (Lebaran): the next week's digest covers it."""
    today = now.astimezone(settings.tz).date()
    monday = today - timedelta(days=today.weekday())
    planned = monday + timedelta(days=settings.digest_weekday)
    next_monday = monday + timedelta(days=7)
    week_ends = hours.at(next_monday, 0)
    year, week, _ = planned.isocalendar()
    day = planned
    while day < next_monday and not hours.is_working_day(day):
        day += timedelta(days=1)
    if day >= next_monday:
        return None
    at = settings.digest_time
    moment = hours.next_open(hours.at(day, at.hour, at.minute))
    return DigestSlot(f"{year:04d}-W{week:02d}", moment, week_ends)


async def recipients(
    session: AsyncSession, settings: Settings
) -> list[tuple[str, str, int | None]]:
    """(channel, chat, user id) of every digest recipient, each address once."""
    found: dict[tuple[str, str], int | None] = dict.fromkeys(settings.bappeda_chats)
    officers = await session.scalars(
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == Role.BAPPEDA, User.registered_at.is_not(None))
        .distinct()
    )
    for user_id in sorted(set(officers)):
        identity = await preferred_identity(session, user_id)
        if identity is not None:
            found.setdefault((identity.channel, identity.external_id), user_id)
    return [(channel, chat, user) for (channel, chat), user in found.items()]


async def digest_rows(
    session: AsyncSession,
    settings: Settings,
    slot: DigestSlot,
    *,
    label: str | None = None,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> list[NewMessage]:
    """The rows of one digest not in the outbox yet. ``label`` replaces the week in the keys
    (a manual send: ``manual-<timestamp>``); ``now`` is the push body's ``generated_at``."""
    name = label or slot.week
    wanted: dict[str, NewMessage] = {}
    spec = {"kind": DIGEST_KIND, "week": slot.week, "at": slot.moment.isoformat()}
    for channel, chat, user_id in await recipients(session, settings):
        key = f"digest:{name}:{channel}:{chat}"
        wanted[key] = NewMessage(
            key=key,
            kind=DIGEST_KIND,
            channel=channel,
            recipient=chat,
            payload={"notice": spec},
            due_at=due_at or slot.moment,
            user_id=user_id,
            priority=PRIORITY,
            working_time=label is None,
        )
    push_key = f"push:digest:{name}"
    if settings.bappeda_push_url:
        wanted[push_key] = NewMessage(
            key=push_key,
            kind=PUSH_KIND,
            channel=PUSH_CHANNEL,
            recipient=settings.bappeda_push_url[:160],
            payload={},  # filled below, only when the row is new
            due_at=due_at or slot.moment,
            priority=PRIORITY,
        )
    held = set(
        await session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(list(wanted))))
    )
    rows = [m for k, m in wanted.items() if k not in held]
    return [
        await _with_body(session, settings, m, slot, now or slot.moment)
        if m.kind == PUSH_KIND
        else m
        for m in rows
    ]


async def _with_body(
    session: AsyncSession, settings: Settings, row: NewMessage, slot: DigestSlot, now: datetime
) -> NewMessage:
    digest = await build_digest(session, scope=None, moment=slot.moment, tz=settings.tz)
    body = push_body(
        digest.figures,
        key=row.key,
        week=slot.week,
        generated_at=now,
        pemda=settings.pemda_name,
        timezone=settings.timezone,
    )
    return replace(row, payload={"body": body})


class DigestComposer:
    """A digest row's text and chart, at send time, in the recipient's language."""

    def __init__(self, database: Database, settings: Settings, chart_dir: Path) -> None:
        self.database = database
        self.settings = settings
        self.chart_dir = chart_dir
        self._cache: tuple[str, float, Digest] | None = None

    async def _digest(self, session: AsyncSession, at: str) -> Digest:
        cached = self._cache
        if cached is not None and cached[0] == at and time.monotonic() - cached[1] < CACHE_SECONDS:
            return cached[2]
        moment = datetime.fromisoformat(at)
        digest = await build_digest(
            session,
            scope=None,
            moment=moment,
            tz=self.settings.tz,
            apart=participation_apart(self.database),
        )
        self._cache = (at, time.monotonic(), digest)
        return digest

    async def compose(self, row: Claimed) -> Composed | None:
        spec: dict[str, Any] = row.payload["notice"]
        async with self.database.sessions() as session:
            person = await session.get(User, row.user_id) if row.user_id else None
            locale = person.locale if person is not None and person.locale else None
            t = Translator(locale or self.settings.locale)
            digest = await self._digest(session, str(spec["at"]))
        text = digest_text(digest, t, pemda=self.settings.pemda_name)
        chart = await asyncio.to_thread(chart_file, digest.figures, t, self.chart_dir)
        week = week_label(digest, t)
        caption = t("digest.caption", week=week)
        m = digest.figures.monitoring
        rate = "-" if not m.due else f"{round(100 * m.reported / m.due)}%"
        summary = t(
            "digest.template_summary",
            new=t.number(digest.figures.new_ideas),
            total=t.number(digest.figures.total_ideas),
            rate=rate,
        )
        replies = [
            Reply(text),
            Reply(caption, file=OutgoingFile("photo", chart, chart.name)),
        ]
        return replies, TemplateCall("weekly_digest", (week, summary))
