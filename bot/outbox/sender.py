"""The one loop that sends what the outbox holds, per channel, within the channel's limits.

Each pass claims the due rows of one channel (most urgent first), checks that each is still
wanted (a reminder whose output was added meanwhile is cancelled) and that working time
allows it (reminders and prompts wait for an open hour), sends it when the rate limiter
lets it go, and records the result: sent, retried later (flood control, a transient
error, with backoff), failed, blocked, no template. Nothing is kept in memory that a
restart needs: a claimed row that is not finished goes back to the table when its lease
runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, cast

from bot.outbox.errors import Blocked, NoTemplate, Permanent, RateLimited, SendError
from bot.outbox.limits import UNLIMITED, ChannelLimits, RateLimiter
from handlers.messages import Reply, TemplateCall, coalesce, reply_from_json, template_from_json
from storage.models import utcnow
from storage.outbox import Claimed, OutboxState, OutboxStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE_MARGIN = timedelta(seconds=10)  # a row this close to losing its lease is given back
POLL_SECONDS = 1.0  # how often rows other processes added are looked for
# Replies this loop sent (another replica's, on PostgreSQL) are marked in one write per
# this interval, as a channel marks its own (bot/app.py's SENT_MARK_DELAY): the elected
# sender of several replicas sends most replies, and one transaction for each cost it more
# than the send. Killed before the write, those replies go out again (at worst twice).
REPLY_MARK_DELAY = 0.05


class Port(Protocol):
    """A channel as the sender sees it."""

    name: str
    limits: ChannelLimits

    async def deliver(
        self, recipient: str, replies: Sequence[Reply], *, template: TemplateCall | None
    ) -> Sequence[int] | None:
        """Send, or raise a :mod:`bot.outbox.errors` exception saying why not; the ids of
        the messages sent where the channel has them (Telegram)."""


class EditingPort(Port, Protocol):
    """A channel that can change a message it sent (Telegram's editMessageText)."""

    async def edit(self, recipient: str, message_id: int, reply: Reply) -> None: ...


class OpenHours(Protocol):
    def is_open(self, moment: datetime) -> bool: ...

    def next_open(self, moment: datetime) -> datetime: ...


# Composes a scheduled row's words at send time; None when it is no longer due.
Compose = Callable[[Claimed], Awaitable[tuple[list[Reply], TemplateCall | None] | None]]
Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … at most an hour."""
    return timedelta(seconds=min(3600.0, 30.0 * 2 ** max(0, attempts - 1)))


class OutboxSender:
    def __init__(
        self,
        store: OutboxStore,
        *,
        clock: Clock = utcnow,
        open_hours: Callable[[], Awaitable[OpenHours]] | None = None,
        compose: Compose | None = None,
        on_blocked: Callable[[str, str], Awaitable[None]] | None = None,
        poll_seconds: float = POLL_SECONDS,
        may_send: Callable[[str], bool] | None = None,
        on_idle: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        # Told when a channel's sending loop runs out of due rows after sending some (the
        # broadcast progress then writes a finished broadcast's report at once, not at its
        # next look: the budget would idle meanwhile).
        self.on_idle = on_idle
        # Whether this process sends for a channel now (one replica per token, see
        # bot/outbox/election.py); the others leave the rows to it.
        self.may_send: Callable[[str], bool] = may_send or (lambda _channel: True)
        self.clock = clock
        self._open_hours = open_hours
        self.compose = compose
        self.on_blocked = on_blocked
        self._poll = poll_seconds
        self.ports: dict[str, Port] = {}
        self.limiters: dict[str, RateLimiter] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._reply_marks: list[int] = []
        self._marking: asyncio.Task[None] | None = None

    def register(self, port: Port) -> None:
        self.ports[port.name] = port
        self.limiters.setdefault(port.name, RateLimiter(port.limits))
        self._wake.setdefault(port.name, asyncio.Event())

    def limiter(self, channel: str) -> RateLimiter:
        return self.limiters.setdefault(channel, RateLimiter(UNLIMITED))

    def wake(self, channels: Iterable[str] | None = None) -> None:
        """Look at the table now (a step just committed rows for someone)."""
        for name in channels if channels is not None else list(self._wake):
            event = self._wake.get(name)
            if event is not None:
                event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set: one loop per registered channel."""
        try:
            await asyncio.gather(*(self._loop(name, stop) for name in list(self.ports)))
        finally:
            await self.flush_marks()

    async def flush_marks(self) -> None:
        """Record the replies sent and not yet marked (a stop calls this, so its claims
        handed back are only the unsent ones)."""
        if self._marking is not None and self._marking is not asyncio.current_task():
            self._marking.cancel()
        ids, self._reply_marks, self._marking = self._reply_marks, [], None
        if not ids:
            return
        try:
            await self.store.mark_sent(ids)
        except Exception:
            # Their leases run out and they are sent again: at worst twice, never lost.
            log.exception("could not mark %d sent replies", len(ids))

    def _mark_reply_soon(self, row_id: int) -> None:
        self._reply_marks.append(row_id)
        if self._marking is None:
            self._marking = asyncio.get_running_loop().create_task(self._flush_marks_soon())

    async def _flush_marks_soon(self) -> None:
        await asyncio.sleep(REPLY_MARK_DELAY)
        await self.flush_marks()

    async def _loop(self, channel: str, stop: asyncio.Event) -> None:
        wake = self._wake[channel]

        def more() -> bool:
            return not stop.is_set() and self.may_send(channel)

        busy = False
        while not stop.is_set():
            # Cleared before the pass, not after: a wake while it claims (rows committed
            # meanwhile) must not be lost to a whole poll interval.
            wake.clear()
            try:
                sent = await self.send_due(channel, more=more, defer_marks=True)
            except Exception:
                log.exception("outbox pass for %s failed", channel)
                sent = 0
            if sent:
                busy = True
                continue
            if busy and self.on_idle is not None:
                busy = False
                self.on_idle(channel)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first_of(wake, stop), self._poll)

    async def drain(self, channels: Iterable[str] | None = None) -> int:
        """Send everything due now, pass after pass (tests, and a start's recovery)."""
        total = 0
        for channel in list(channels if channels is not None else self.ports):
            while sent := await self.send_due(channel):
                total += sent
        await self.flush_marks()
        return total

    async def send_due(
        self,
        channel: str,
        kinds: Sequence[str] | None = None,
        *,
        more: Callable[[], bool] | None = None,
        defer_marks: bool = False,
    ) -> int:
        """One pass: claim the due rows of ``channel`` and send them; how many were claimed.

        With ``more`` (the sending loop), a full batch is followed by the next one while
        ``more()`` holds: it is claimed while half the current batch still waits, so the
        channel never idles between batches (the gap of waiting for the last answers, then
        claiming, cost a few per cent of Telegram's 30/s on a broadcast of thousands).

        The replies sent are marked at the end of the pass, or within REPLY_MARK_DELAY
        (``defer_marks``: the sending loop, which goes on to its next pass at once)."""
        port = self.ports.get(channel)
        if port is None or not self.may_send(channel):
            return 0
        limits = port.limits
        batch = max(10, 2 * limits.per_second) if limits.per_second else 200
        rows = await self.store.claim(self.clock(), [channel], batch, kinds=kinds)
        if not rows:
            return 0
        claimed = len(rows)
        full = len(rows) == batch
        limiter = self.limiter(channel)
        open_hours = await self._open_hours() if self._open_hours is not None else None
        waiting = deque(rows)
        slots = asyncio.Semaphore(limits.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        next_batch: asyncio.Task[list[Claimed]] | None = None
        try:
            while waiting or next_batch is not None:
                if (
                    next_batch is None
                    and full
                    and more is not None
                    and len(waiting) <= batch // 2
                    and more()
                ):
                    next_batch = asyncio.create_task(
                        self.store.claim(self.clock(), [channel], batch, kinds=kinds)
                    )
                if next_batch is not None and (next_batch.done() or not waiting):
                    fresh = await next_batch
                    next_batch = None
                    full = len(fresh) == batch
                    claimed += len(fresh)
                    waiting.extend(fresh)
                    if not waiting:
                        break
                    if fresh and self._open_hours is not None:
                        open_hours = await self._open_hours()
                index, wait = _soonest(waiting, limiter)
                if wait > 0:
                    if next_batch is not None:
                        # Woken by whichever comes first: the send's turn or the next batch.
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(asyncio.shield(next_batch), wait)
                    else:
                        await asyncio.sleep(wait)
                    continue
                if more is not None and not more():
                    break  # stopping, or no longer this channel's sender: the rest go back
                row = waiting[index]
                del waiting[index]
                if row.lease_until - utcnow() < LEASE_MARGIN:
                    await self.store.postpone(row.id, self.clock())  # another pass sends it
                    continue
                prepared = await self._prepare(row, open_hours)
                if prepared is None:
                    continue
                await slots.acquire()
                limiter.start(row.recipient)
                task = asyncio.create_task(self._send_released(port, row, *prepared, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if next_batch is not None:
                with contextlib.suppress(Exception):
                    waiting.extend(await next_batch)
            # Rows claimed and not started (a failure midway) go back at once.
            for row in waiting:
                with contextlib.suppress(Exception):
                    await self.store.postpone(row.id, self.clock())
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if not defer_marks:
                await self.flush_marks()
        return claimed

    async def _prepare(
        self, row: Claimed, open_hours: OpenHours | None
    ) -> tuple[list[Reply], TemplateCall | None] | None:
        """What is still to send, or None when the row was settled here."""
        now = self.clock()
        if row.working_time and open_hours is not None and not open_hours.is_open(now):
            await self.store.postpone(row.id, open_hours.next_open(now))
            return None
        if "notice" in row.payload and self.compose is not None:
            composed = await self.compose(row)
            if composed is None:
                await self.store.finish(row.id, OutboxState.CANCELLED, "no longer due", now=now)
                return None
            replies, template = composed
        else:
            replies = [reply_from_json(r) for r in row.payload.get("replies") or ()]
            template = template_from_json(row.payload.get("template"))
        remaining = coalesce(replies)[row.parts_sent :]
        if not remaining:
            await self.store.finish(row.id, OutboxState.SENT, now=now)
            return None
        return remaining, template

    async def _send_released(
        self,
        port: Port,
        row: Claimed,
        replies: list[Reply],
        template: TemplateCall | None,
        slots: asyncio.Semaphore,
    ) -> None:
        sent = 0
        try:
            sent = await self._send(port, row, replies, template)
        except Exception:
            log.exception("recording the send of outbox message %s failed", row.id)
        finally:
            self.limiter(port.name).done(row.recipient, sent)
            slots.release()

    async def _send(
        self, port: Port, row: Claimed, replies: list[Reply], template: TemplateCall | None
    ) -> int:
        """Send one row and record the result; how many messages went out (an estimate)."""
        store = self.store
        edit = row.payload.get("edit_message_id")
        if edit is not None and not hasattr(port, "edit"):
            await store.finish(row.id, OutboxState.SKIPPED, "the channel cannot edit")
            return 0
        ids: Sequence[int] | None = None
        if not await store.attempt(row.id):
            return 0  # our lease ran out and another worker holds the row now
        try:
            if edit is not None:
                # A message that is kept up to date (a broadcast's progress) is edited in place.
                await cast(EditingPort, port).edit(row.recipient, int(edit), replies[-1])
            else:
                ids = await port.deliver(row.recipient, replies, template=template)
        except SendError as exc:
            await self._failed(port, row, exc)
            return exc.sent
        except Exception as exc:
            await self._failed(port, row, exc)
            return 0
        if row.kind == "reply" and edit is None and not row.payload.get("sensitive"):
            self._mark_reply_soon(row.id)  # a reply's message id is never needed
            return len(replies)
        await store.finish(
            row.id,
            OutboxState.SENT,
            # Kept so a message can be edited later (the first progress message of a broadcast).
            f"message_id:{ids[-1]}" if ids else None,
            now=self.clock(),
            forget_payload=bool(row.payload.get("sensitive")),
        )
        return 1 if edit is not None else len(replies)

    async def _failed(self, port: Port, row: Claimed, exc: Exception) -> None:
        """Record why a row did not go out, and when it is tried again, if ever."""
        store = self.store
        now = self.clock()
        sent = row.parts_sent + (exc.sent if isinstance(exc, SendError) else 0)
        if isinstance(exc, RateLimited):
            self.limiter(port.name).pause(exc.retry_after)
            log.warning("%s flood control: waiting %.1f s", port.name, exc.retry_after)
            due = now + timedelta(seconds=exc.retry_after)
            await store.retry(row.id, due, exc.reason, parts_sent=sent, count=False)
        elif isinstance(exc, Blocked):
            await store.finish(row.id, OutboxState.BLOCKED, exc.reason, now=now)
            if self.on_blocked is not None:
                await self.on_blocked(port.name, row.recipient)
        elif isinstance(exc, NoTemplate):
            log.error("outbox message %s not sent: %s", row.id, exc.reason)
            await store.finish(row.id, OutboxState.NO_TEMPLATE, exc.reason, now=now)
        else:
            reason = exc.reason if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}"
            attempts = row.attempts + 1
            if isinstance(exc, Permanent) or attempts >= MAX_ATTEMPTS:
                log.error("outbox message %s failed for good: %s", row.id, reason)
                await store.finish(row.id, OutboxState.FAILED, reason, now=now)
            else:
                log.warning("outbox message %s failed (%s); retrying", row.id, reason)
                await store.retry(row.id, now + backoff(attempts), reason, parts_sent=sent)


def _soonest(waiting: deque[Claimed], limiter: RateLimiter) -> tuple[int, float]:
    """The first row that may go now, else the one that may go soonest, and its wait.

    Only each chat's first waiting row counts: a later message to a chat never overtakes an
    earlier one (the window can free a slot between looking at one and at the next).
    """
    best, best_wait = 0, math.inf
    seen: set[str] = set()
    for index, row in enumerate(waiting):
        if row.recipient in seen:
            continue
        seen.add(row.recipient)
        wait = limiter.delay(row.recipient, spacing=row.kind != "reply")
        if wait <= 0:
            return index, 0.0
        if wait < best_wait:
            best, best_wait = index, wait
    return best, best_wait


async def first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
