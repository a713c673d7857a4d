"""Keeps each running broadcast's sender informed, every few seconds, through the outbox.

For each confirmed, unfinished broadcast it counts the recipient rows by state. On Telegram
the sender's one progress message is edited in place (an outbox row carrying
``edit_message_id``; the message's id is read from the sent progress row). Elsewhere a
progress line goes at 25, 50 and 75 %. When no recipient row is pending or in flight the
final report is queued and the broadcast marked finished. Every message has an idempotency
key made of what it says (``broadcast:7:edit:120``, ``broadcast:7:progress:50``,
``broadcast:7:report``), so a restart continues and never repeats one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from bot.outbox.sender import first_of
from handlers.broadcast_messages import (
    PENDING_STATES,
    done_of,
    progress_reply,
    report_reply,
    report_template,
    status_row,
)
from handlers.i18n import Translator
from storage.broadcasts import (
    in_doubt_count,
    row_pending,
    running,
    sent_message_id,
    state_counts,
)
from storage.db import Database
from storage.models import Broadcast, utcnow
from storage.outbox import NewMessage, add_messages

log = logging.getLogger(__name__)

INTERVAL = 3.0  # seconds between looks: well within Telegram's one edit a second per chat
MILESTONES = (25, 50, 75)


class BroadcastProgress:
    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float = INTERVAL,
        wake: Callable[[], None] | None = None,
        may_update: Callable[[str], bool] | None = None,
    ) -> None:
        self.database = database
        # Whether this process keeps the broadcasts of a progress channel up to date: with
        # several replicas, only the one elected to send through that channel (its edits
        # then go out at once through its own sender, and two replicas never write two
        # versions of one progress message, nor race to finish the broadcast).
        self.may_update: Callable[[str], bool] = may_update or (lambda _channel: True)
        self._poked = asyncio.Event()
        self.clock = clock
        self.interval = interval
        self.wake = wake

    def poke(self, _channel: str | None = None) -> None:
        """Look now (the sender ran out of rows: a broadcast may have just finished)."""
        self._poked.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._poked.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("broadcast progress pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first_of(stop, self._poked), self.interval)

    async def tick(self) -> int:
        """One look at every running broadcast; how many status messages were queued."""
        async with self.database.sessions() as session:
            ids = [b.id for b in await running(session) if self.may_update(b.progress_channel)]
        added = 0
        for broadcast_id in ids:
            added += await self._update(broadcast_id)
        if added and self.wake is not None:
            self.wake()
        return added

    async def _update(self, broadcast_id: int) -> int:
        now = self.clock()
        # Read first, without the write lock: counting thousands of rows while holding it
        # would stall the sender's writes (on SQLite there is one writer) every few seconds.
        async with self.database.sessions() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.finished_at is not None:
                return 0
            if not self.may_update(broadcast.progress_channel):
                return 0  # the replica lost the channel's election meanwhile
            counts = await state_counts(session, broadcast.id)
            edits = broadcast.progress_channel == "telegram"
            message_id = broadcast.progress_message_id
            first_pending = False
            if edits and message_id is None:
                first = f"broadcast:{broadcast.id}:progress"
                message_id = await sent_message_id(session, first)
                first_pending = message_id is None and await row_pending(session, first)
            pending = sum(counts.get(s, 0) for s in PENDING_STATES)
            doubt = await in_doubt_count(session, broadcast.id) if not pending else 0
        if not pending and first_pending:
            return 0  # the report waits for the progress message it will edit
        rows = self._messages(broadcast, counts, message_id, now, final=not pending, doubt=doubt)
        if not rows and message_id == broadcast.progress_message_id:
            return 0
        async with self.database.writing(), self.database.sessions() as session, session.begin():
            stored = await session.get(Broadcast, broadcast_id)
            if stored is None or stored.finished_at is not None:
                return 0
            stored.progress_message_id = message_id
            if not pending:
                stored.finished_at = now
            return await add_messages(session, rows)

    def _messages(
        self,
        broadcast: Broadcast,
        counts: dict[str, int],
        message_id: int | None,
        now: datetime,
        *,
        final: bool,
        doubt: int = 0,
    ) -> list[NewMessage]:
        t = Translator(broadcast.locale)
        edits = broadcast.progress_channel == "telegram"
        done = done_of(counts)
        rows: list[NewMessage] = []
        if not final:
            if edits and message_id is not None:
                mark = "x" if broadcast.cancelled_at is not None else ""
                reply = progress_reply(t, broadcast, counts)
                rows.append(
                    status_row(
                        broadcast, f"edit:{done}{mark}", reply, now, edit_message_id=message_id
                    )
                )
            elif not edits:
                rows += _milestone(t, broadcast, counts, done, now)
            return rows
        if edits and message_id is not None:
            reply = progress_reply(t, broadcast, counts, final=True)
            rows.append(status_row(broadcast, "edit:final", reply, now, edit_message_id=message_id))
        report = report_reply(t, broadcast, counts, doubt)
        template = report_template(broadcast, counts)
        rows.append(status_row(broadcast, "report", report, now, template=template))
        return rows


def _milestone(
    t: Translator, broadcast: Broadcast, counts: dict[str, int], done: int, now: datetime
) -> list[NewMessage]:
    """The progress line of the highest milestone passed (once each, by its key)."""
    total = broadcast.recipients or 1
    passed = [m for m in MILESTONES if done * 100 >= m * total]
    if not passed:
        return []
    reply = progress_reply(t, broadcast, counts)
    return [status_row(broadcast, f"progress:{passed[-1]}", reply, now)]
