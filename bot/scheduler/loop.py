"""The scheduler's tick: what is due now goes into the outbox, old rows go out of it.

It runs in every process, once a minute by default, and is cheap when nothing is due. With
several replicas on one PostgreSQL, a tick runs under an advisory lock: a replica that finds
another one ticking skips its turn, so the due rows are computed once. (The outbox would
refuse a key it holds anyway; the lock saves the other replicas the computation.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text

from bot.calendar.working_time import WorkingTime, load_working_time
from bot.config import Settings
from bot.dashboard.link_delivery import DashboardLinkComposer
from bot.export_delivery import ExportComposer, remove_generated_files
from bot.scheduler.compose import Composed, NoticeComposer
from bot.scheduler.digest import (
    DIGEST_KIND,
    DigestComposer,
    DigestSlot,
    digest_rows,
    digest_slot,
)
from bot.scheduler.due import Due, DueComputation, as_messages
from storage.db import Database
from storage.leader import lock_key
from storage.outbox import Claimed, OutboxStore, add_messages

log = logging.getLogger(__name__)

TICK_SECONDS = 60.0
HOURS_CACHE = timedelta(minutes=1)  # Bappeda's added holidays are read again this often
HOUSEKEEPING_EVERY = timedelta(hours=1)
# Once a week's digest is queued, its recipients are looked at again this often (a Bappeda
# officer appointed later that week still gets it), not at every tick.
DIGEST_RECHECK = timedelta(hours=1)
TICK_LOCK = lock_key("scheduler-tick")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


class Scheduler:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        outbox: OutboxStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.settings = settings
        self.outbox = outbox
        self.clock = clock  # () -> aware datetime; the engine's and the sender's clock
        self._composer = NoticeComposer(database, settings.locale)
        self._digests = DigestComposer(database, settings, settings.data_dir / "charts")
        self._exports = ExportComposer(database, settings)
        self._dashboard_links = DashboardLinkComposer(database, settings)
        self._hours: tuple[datetime, WorkingTime] | None = None
        self._last_housekeeping: datetime | None = None
        self._digest_checked: tuple[str, datetime] | None = None
        self.skipped = 0  # ticks left to another replica

    def now(self) -> datetime:
        return self.clock()

    async def working_time(self) -> WorkingTime:
        now = self.now()
        if self._hours is None or abs(now - self._hours[0]) > HOURS_CACHE:
            async with self.database.sessions() as session:
                hours = await load_working_time(
                    session,
                    self.settings.tz,
                    self.settings.quiet_start,
                    self.settings.quiet_end,
                )
            self._hours = (now, hours)
        return self._hours[1]

    async def due(
        self, at: datetime, *, include_existing: bool = False, with_nips: bool = False
    ) -> list[Due]:
        """What is due at ``at`` (and not in the outbox yet, unless ``include_existing``);
        ``with_nips`` reads the recipients' NIPs too, for the operators' view."""
        hours = await self.working_time()
        async with self.database.sessions() as session:
            computation = DueComputation(session, at, self.settings, hours, with_nips=with_nips)
            return await computation.run(include_existing=include_existing)

    async def tick(self) -> int:
        """Add what is due now to the outbox; returns how many rows were new (0 when another
        replica is ticking right now)."""
        if self.database.is_sqlite:
            return await self._tick()
        async with self.database.engine.connect() as conn:
            if not await conn.scalar(_TRY_LOCK, {"key": TICK_LOCK}):
                self.skipped += 1
                return 0
            try:
                return await self._tick()
            finally:
                # A session lock outlives the transaction: given back before the pool reuses
                # the connection (a broken connection took the lock with it).
                await conn.execute(_UNLOCK, {"key": TICK_LOCK})
                await conn.commit()

    async def _tick(self) -> int:
        now = self.now()
        found = await self.due(now)
        added = 0
        if found:
            async with (
                self.database.writing(),
                self.database.sessions() as session,
                session.begin(),
            ):
                added = await add_messages(session, as_messages(found))
        added += await self.queue_digest(now)
        if self._last_housekeeping is None or now - self._last_housekeeping >= HOUSEKEEPING_EVERY:
            self._last_housekeeping = now
            retention = timedelta(days=self.settings.retention_days)
            outbox_rows, updates = await self.outbox.housekeeping(now, retention)
            if outbox_rows or updates:
                log.info("housekeeping: %d outbox rows, %d updates deleted", outbox_rows, updates)
            files = await asyncio.to_thread(
                remove_generated_files, self.settings.data_dir, self.settings.generated_files_hours
            )
            if files:
                log.info("housekeeping: %d old chart and export files removed", files)
        return added

    async def queue_digest(self, now: datetime, *, manual: bool = False) -> int:
        """This week's digest rows, once its moment came (``manual``: now, under new keys);
        how many were new."""
        hours = await self.working_time()
        slot = digest_slot(self.settings, hours, now)
        if manual:
            week = now.astimezone(self.settings.tz).isocalendar()
            slot = DigestSlot(f"{week[0]:04d}-W{week[1]:02d}", now, now)
        elif slot is None or now < slot.moment or hours.next_open(now) >= slot.week_ends:
            # Not yet, or too late: a digest that could only go out next week is not sent.
            return 0
        else:
            checked = self._digest_checked
            if checked and checked[0] == slot.week and abs(now - checked[1]) < DIGEST_RECHECK:
                return 0
        label = f"manual-{now.strftime('%Y%m%dT%H%M%S')}" if manual else None
        async with self.database.sessions() as session:
            rows = await digest_rows(session, self.settings, slot, label=label, now=now)
        if not manual:
            self._digest_checked = (slot.week, now)
        if not rows:
            return 0
        async with self.database.writing(), self.database.sessions() as session, session.begin():
            return await add_messages(session, rows)

    async def compose(self, row: Claimed) -> Composed | None:
        """A scheduled row's words, composed at send time (None: no longer due)."""
        if row.kind == DIGEST_KIND:
            return await self._digests.compose(row)
        if row.payload["notice"].get("kind") == "export":
            return await self._exports.compose(row)
        if row.payload["notice"].get("kind") == "dashboard_link":
            return await self._dashboard_links.compose(row)
        return await self._composer.compose(row)

    async def run(self, stop: asyncio.Event, wake: Callable[[], None] | None = None) -> None:
        while not stop.is_set():
            try:
                if await self.tick() and wake is not None:
                    wake()
            except Exception:
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
