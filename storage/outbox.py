"""The outbox: every message SASI sends, as a row, before it is sent.

A row has an idempotency key (``reminder:12:design:3``, ``reply:telegram:9001`` …), a
channel and recipient, a due time, a state and a result. Rows are claimed by one worker at a
time (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer, so its ``UPDATE …
RETURNING`` is atomic as it is), leased for a while, and marked with what happened. A worker
that dies leaves its claims to expire, so another (or its own next start) sends them:
nothing is lost, and only a message in flight at the moment of a kill can go out twice.
"""

from __future__ import annotations

import enum
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Database
from storage.models import Base, InboundUpdate, UTCDateTime, utcnow

# NOTIFY channel waking the elected sender on another replica (bot/outbox/election.py); the
# payload names the SASI channel with new rows.
NOTIFY_CHANNEL = "sasi_outbox"
REPLY_LEASE = timedelta(seconds=60)  # a channel sends a reply within this, or it is resent
SEND_LEASE = timedelta(seconds=60)


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    FAILED = "failed"  # a permanent error, or retries ran out
    BLOCKED = "blocked"  # the person blocked the bot
    NO_TEMPLATE = "no_template"  # WhatsApp's window is closed and no template fits
    CANCELLED = "cancelled"  # no longer due when its time came (the output was added)
    SKIPPED = "skipped"  # superseded before it could go (a later reminder was due)


FINISHED = (
    OutboxState.SENT,
    OutboxState.FAILED,
    OutboxState.BLOCKED,
    OutboxState.NO_TEMPLATE,
    OutboxState.CANCELLED,
    OutboxState.SKIPPED,
)

# A claim whose worker died with its request out (``attempted_at`` set, no outcome) is in
# doubt: the channel may or may not have delivered it, and Telegram has no idempotency key
# to ask. SASI sends it again (at least once: a message missed goes unnoticed, by the sender
# as by the recipient, while a second copy is seen and costs a glance) and marks it
# ``in_doubt``, so a broadcast's report says how many may have had it twice.


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due_at", "state", "due_at"),
        # A broadcast's progress counts its rows by state, thousands every few seconds.
        Index("ix_outbox_broadcast_id_state", "broadcast_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(160))  # a WhatsApp BSUID is long
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    idea_id: Mapped[int | None] = mapped_column(Integer, index=True)
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer, default=5)  # lower goes first
    # Reminders and prompts wait for working time; replies and codes go at once.
    working_time: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)  # messages of it already out
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set, and committed, just before the sender's request leaves; cleared with its outcome.
    # A claim that dies with it set is in doubt: the channel may have the message.
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Taken over from a worker that died with its request out: it may have arrived twice.
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    result: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


_TABLE = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class NewMessage:
    """A row to add; ``key`` makes adding it twice a no-op."""

    key: str
    kind: str
    channel: str
    recipient: str
    payload: dict[str, Any]
    due_at: datetime
    user_id: int | None = None
    idea_id: int | None = None
    priority: int = 5
    working_time: bool = False
    broadcast_id: int | None = None
    state: OutboxState = OutboxState.PENDING  # SKIPPED: recorded as superseded, never sent
    result: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A claimed row, as the sender needs it."""

    id: int
    key: str
    kind: str
    channel: str
    recipient: str
    payload: dict[str, Any]
    user_id: int | None
    idea_id: int | None
    attempts: int
    parts_sent: int
    working_time: bool
    lease_until: datetime
    in_doubt: bool = False


def new_worker_id() -> str:
    """Who claims rows: host and pid (so a restart can tell its dead predecessor's claims
    apart at once) and a random part (pids repeat, e.g. 1 in every container)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_INSERTS: dict[str, Any] = {}


def _insert_new(session: AsyncSession) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING id``, built once per dialect: a
    reply row is written for every message, and building a statement costs more than
    running it."""
    dialect = session.get_bind().dialect.name
    statement = _INSERTS.get(dialect)
    if statement is None:
        insert = sqlite_insert(_TABLE) if dialect == "sqlite" else postgresql_insert(_TABLE)
        statement = _INSERTS[dialect] = insert.on_conflict_do_nothing(
            index_elements=["key"]
        ).returning(_TABLE.c.id)
    return statement


def _row(message: NewMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key[:160],
        "kind": message.kind,
        "channel": message.channel,
        "recipient": message.recipient,
        "user_id": message.user_id,
        "idea_id": message.idea_id,
        "broadcast_id": message.broadcast_id,
        "payload": message.payload,
        "priority": message.priority,
        "working_time": message.working_time,
        "due_at": message.due_at,
        "state": message.state.value,
        "attempts": 0,
        "parts_sent": 0,
        "in_doubt": False,
        "result": message.result,
        "created_at": now,
        "finished_at": now if message.state in FINISHED else None,
    }


async def add_messages(session: AsyncSession, messages: Sequence[NewMessage]) -> int:
    """Add rows inside the caller's transaction; those whose key exists are left as they
    are. Returns how many were new."""
    if not messages:
        return 0
    now = utcnow()
    statement = _insert_new(session)
    added = 0
    for start in range(0, len(messages), 500):
        chunk = [_row(m, now) for m in messages[start : start + 500]]
        result = await session.execute(statement, chunk)
        added += len(result.all())
    return added


async def notify_sender(session: AsyncSession, channel: str) -> None:
    """Wake the elected sender of ``channel`` when this transaction commits (PostgreSQL
    delivers a NOTIFY at commit): no connection or round trip of its own after the step."""
    await session.execute(
        text("SELECT pg_notify(:notify, :payload)"), {"notify": NOTIFY_CHANNEL, "payload": channel}
    )


async def add_reply(session: AsyncSession, message: NewMessage, worker: str) -> int | None:
    """A reply committed with the state it answers, claimed by the worker that will send it
    right after the commit. None when its key was written before (a redelivery)."""
    now = utcnow()
    row = _row(message, now)
    row.update(state=OutboxState.SENDING.value, claimed_by=worker, lease_until=now + REPLY_LEASE)
    return cast(int | None, await session.scalar(_insert_new(session), [row]))


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=row.id,
        key=row.key,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        payload=dict(row.payload or {}),
        user_id=row.user_id,
        idea_id=row.idea_id,
        attempts=row.attempts,
        parts_sent=row.parts_sent,
        working_time=row.working_time,
        lease_until=row.lease_until,
        in_doubt=bool(row.in_doubt),
    )


class OutboxStore:
    """The outbox's queries, for the sender, the channels and the operators' commands."""

    def __init__(self, database: Database, worker: str | None = None) -> None:
        self.database = database
        self.worker = worker or new_worker_id()

    async def add(self, messages: Sequence[NewMessage]) -> int:
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            return await add_messages(session, messages)

    async def claim(
        self,
        now: datetime,
        channels: Iterable[str],
        limit: int,
        lease: timedelta = SEND_LEASE,
        kinds: Sequence[str] | None = None,
    ) -> list[Claimed]:
        """Claim up to ``limit`` due rows of ``channels``: pending ones whose time has come,
        and claims whose lease ran out (their worker died). Most urgent first."""
        channels = list(channels)
        if not channels or limit <= 0:
            return []
        real_now = utcnow()
        due = (
            select(_TABLE.c.id)
            .where(
                _TABLE.c.channel.in_(channels),
                or_(
                    and_(_TABLE.c.state == OutboxState.PENDING.value, _TABLE.c.due_at <= now),
                    and_(
                        _TABLE.c.state == OutboxState.SENDING.value,
                        _TABLE.c.lease_until < real_now,
                    ),
                ),
            )
            .order_by(_TABLE.c.priority, _TABLE.c.due_at, _TABLE.c.id)
            .limit(limit)
        )
        if kinds:
            due = due.where(_TABLE.c.kind.in_(list(kinds)))
        if not self.database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(_TABLE)
            .where(_TABLE.c.id.in_(due.scalar_subquery()))
            .values(
                state=OutboxState.SENDING.value,
                claimed_by=self.worker,
                lease_until=real_now + lease,
                in_doubt=case((_TABLE.c.attempted_at.is_not(None), True), else_=_TABLE.c.in_doubt),
                attempted_at=None,
            )
            .returning(*_TABLE.c)
        )
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            rows = (await session.execute(statement)).all()
        claimed = [_claimed(r) for r in rows]
        claimed.sort(key=lambda c: c.id)
        return claimed

    async def attempt(self, row_id: int) -> bool:
        """Record, committed, that the request for a claimed row leaves now; False when this
        worker no longer holds the row (its lease ran out and another took it: not sent)."""
        return await self._update_mine(row_id, {"attempted_at": utcnow()}) > 0

    async def in_doubt(self, channel: str | None = None) -> list[Claimed]:
        """Rows taken over from a worker that died with their request out."""
        query = select(_TABLE).where(_TABLE.c.in_doubt.is_(True))
        if channel is not None:
            query = query.where(_TABLE.c.channel == channel)
        async with self.database.sessions() as session:
            rows = (await session.execute(query.order_by(_TABLE.c.id))).all()
        return [_claimed(r) for r in rows]

    async def finish(
        self,
        row_id: int,
        state: OutboxState,
        result: str | None = None,
        *,
        now: datetime | None = None,
        forget_payload: bool = False,
    ) -> None:
        """Record what happened to a claimed row (only while this worker holds it)."""
        moment = now or utcnow()
        values: dict[str, Any] = {
            "state": state.value,
            "result": (result or None) and result[:300],
            "lease_until": None,
            "finished_at": moment,
            "attempts": _TABLE.c.attempts + 1,
            "attempted_at": None,
        }
        if state is OutboxState.SENT:
            values["sent_at"] = moment
        if forget_payload:
            values["payload"] = {}  # a one-time code has no business staying in the database
        await self._update_mine(row_id, values)

    async def retry(
        self, row_id: int, due_at: datetime, result: str, *, parts_sent: int, count: bool = True
    ) -> None:
        """Give a claimed row back to be tried again at ``due_at``."""
        values: dict[str, Any] = {
            "state": OutboxState.PENDING.value,
            "due_at": due_at,
            "result": result[:300],
            "claimed_by": None,
            "lease_until": None,
            "attempted_at": None,
            "parts_sent": parts_sent,
        }
        if count:
            values["attempts"] = _TABLE.c.attempts + 1
        await self._update_mine(row_id, values)

    async def postpone(self, row_id: int, due_at: datetime) -> None:
        """Hand a claimed row back unsent (its time is not open yet, or the worker stops)."""
        await self._update_mine(
            row_id,
            {
                "state": OutboxState.PENDING.value,
                "due_at": due_at,
                "claimed_by": None,
                "lease_until": None,
                "attempted_at": None,
            },
        )

    async def mark_sent(self, row_ids: Sequence[int]) -> None:
        """Replies a channel sent on the fast path, right after the commit."""
        if not row_ids:
            return
        now = utcnow()
        statement = (
            update(_TABLE)
            .where(_TABLE.c.id.in_(list(row_ids)), _TABLE.c.claimed_by == self.worker)
            .values(
                state=OutboxState.SENT.value,
                sent_at=now,
                finished_at=now,
                lease_until=None,
                attempts=_TABLE.c.attempts + 1,
            )
        )
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            await session.execute(statement)

    async def release_mine(self) -> int:
        """At a graceful stop: every row this worker claimed and did not finish goes back to
        pending, for another replica to send now rather than at its lease's end."""
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            result = await session.execute(
                update(_TABLE)
                .where(
                    _TABLE.c.state == OutboxState.SENDING.value,
                    _TABLE.c.claimed_by == self.worker,
                )
                .values(state=OutboxState.PENDING.value, claimed_by=None, lease_until=None)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def release_dead_claims(self) -> int:
        """Make the claims of this host's dead workers claimable now, not at lease expiry.

        A restart on the same machine (or container: the same host name, pid 1 again)
        resends its predecessor's unsent replies at once.
        """
        host = socket.gethostname()[:40]
        async with self.database.sessions() as session:
            holders = list(
                await session.scalars(
                    select(_TABLE.c.claimed_by)
                    .where(
                        _TABLE.c.state == OutboxState.SENDING.value,
                        _TABLE.c.claimed_by.is_not(None),
                    )
                    .distinct()
                )
            )
        dead = [h for h in holders if h and h != self.worker and _is_dead(h, host)]
        if not dead:
            return 0
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            result = await session.execute(
                update(_TABLE)
                .where(_TABLE.c.state == OutboxState.SENDING.value, _TABLE.c.claimed_by.in_(dead))
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def release_predecessors(self, channel: str) -> int:
        """This worker was just elected to send for ``channel``: every other worker's claim of
        it is orphaned (only the elected one claims), so it may be taken now rather than at
        its lease's end, whatever host held it. Replies are left to their lease: a replica
        that lost the election may still be sending the one it just committed itself. A
        predecessor still finishing a send when it lost the lock cannot send twice: its
        ``attempt`` write fails once the row is claimed anew, or the row is taken in doubt."""
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            result = await session.execute(
                update(_TABLE)
                .where(
                    _TABLE.c.state == OutboxState.SENDING.value,
                    _TABLE.c.channel == channel,
                    _TABLE.c.kind != "reply",
                    _TABLE.c.claimed_by != self.worker,
                    _TABLE.c.lease_until > utcnow(),
                )
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def resent_to(self, channel: str, kinds: Sequence[str]) -> list[int]:
        """The people this worker sent rows of these kinds to (after a start's resend)."""
        async with self.database.sessions() as session:
            rows = await session.scalars(
                select(_TABLE.c.user_id)
                .where(
                    _TABLE.c.channel == channel,
                    _TABLE.c.kind.in_(list(kinds)),
                    _TABLE.c.claimed_by == self.worker,
                    _TABLE.c.state == OutboxState.SENT.value,
                    _TABLE.c.user_id.is_not(None),
                )
                .distinct()
            )
            return [int(u) for u in rows]

    async def all_sent(self, channel: str, kinds: Sequence[str], keys: Sequence[str]) -> bool:
        """Whether every row of ``keys`` of this channel and kinds has gone out."""
        async with self.database.sessions() as session:
            states = list(
                await session.scalars(
                    select(_TABLE.c.state).where(
                        _TABLE.c.key.in_(list(keys)),
                        _TABLE.c.channel == channel,
                        _TABLE.c.kind.in_(list(kinds)),
                    )
                )
            )
        return all(state == OutboxState.SENT.value for state in states)

    async def counts(self) -> dict[str, int]:
        async with self.database.sessions() as session:
            rows = await session.execute(
                select(_TABLE.c.state, func.count()).group_by(_TABLE.c.state)
            )
            return {str(state): int(n) for state, n in rows}

    async def housekeeping(self, now: datetime, retention: timedelta) -> tuple[int, int]:
        """Delete finished outbox rows and processed inbound updates older than
        ``retention``; returns (outbox rows, inbound updates) deleted."""
        cutoff = now - retention
        inbound = cast(Table, InboundUpdate.__table__)
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            old_out = await session.execute(
                delete(_TABLE).where(
                    _TABLE.c.state.in_([s.value for s in FINISHED]),
                    _TABLE.c.finished_at < cutoff,
                )
            )
            old_in = await session.execute(
                delete(inbound).where(
                    inbound.c.processed_at.is_not(None), inbound.c.processed_at < cutoff
                )
            )
            return (
                int(getattr(old_out, "rowcount", 0) or 0),
                int(getattr(old_in, "rowcount", 0) or 0),
            )

    async def _update_mine(self, row_id: int, values: dict[str, Any]) -> int:
        # Only the holder may write: a worker whose lease ran out (and another took the row
        # over) must not overwrite what the new holder records.
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            result = await session.execute(
                update(_TABLE)
                .where(_TABLE.c.id == row_id, _TABLE.c.claimed_by == self.worker)
                .values(**values)
            )
            return int(getattr(result, "rowcount", 0) or 0)


def _is_dead(worker: str, host: str) -> bool:
    worker_host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if worker_host != host or not pid_text.isdigit():
        return False  # another machine's: its lease tells
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # our pid but not our id: a predecessor (containers reuse pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
