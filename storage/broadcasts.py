"""Broadcasts' queries: who a segment reaches, how far a broadcast got, and cancelling one.

A segment is JSON kept with the broadcast (``{"kind": "stage", "stage": "design",
"opds": [3]}``); ``opds`` None means every OPD (Bappeda, admin), a list limits the segment
to those OPDs (a coordinator's). The caller decides the scope (handlers/access.py); the
queries here only apply it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Broadcast,
    Idea,
    IdeaCollaborator,
    IdeaStatus,
    Identity,
    MonitoringReport,
    Role,
    Stage,
    User,
    UserRole,
)
from storage.outbox import OutboxMessage, OutboxState

KIND = "broadcast"  # the outbox kind of a recipient's row
PROGRESS_KIND = "broadcast_status"  # the sender's progress messages, edits and report
WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window
SEGMENT_KINDS = ("all", "opd", "stage", "overdue", "coordinators")
ACTIVE_STATUSES = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
_OUTBOX = cast(Table, OutboxMessage.__table__)


def row_key(broadcast_id: int, user_id: int) -> str:
    return f"broadcast:{broadcast_id}:{user_id}"


@dataclass(frozen=True)
class Recipient:
    user_id: int
    locale: str | None
    channel: str
    external_id: str
    window_closed: bool  # WhatsApp only: a template goes instead of free text


@dataclass
class Audience:
    """Who a segment reaches, and who it cannot."""

    recipients: list[Recipient] = field(default_factory=list)
    unreachable: int = 0  # registered, in the segment, but every identity blocked or none

    def per_channel(self) -> dict[str, int]:
        return dict(sorted(Counter(r.channel for r in self.recipients).items()))

    @property
    def templates(self) -> int:
        return sum(1 for r in self.recipients if r.window_closed)


def _active_ideas(segment: dict[str, Any]) -> Select[Any]:
    query = select(Idea.id).where(Idea.status.in_(ACTIVE_STATUSES))
    opds = segment.get("opds")
    if opds is not None:
        query = query.where(Idea.opd_id.in_(list(opds)))
    return query


def _segment_users(segment: dict[str, Any]) -> Select[Any]:
    """The ids of the registered people a segment names."""
    kind = segment.get("kind")
    opds = segment.get("opds")
    users = select(User.id).where(User.registered_at.is_not(None))
    if kind in ("all", "opd"):
        if opds is not None:
            users = users.where(User.opd_id.in_(list(opds)))
        return users
    if kind == "stage":
        ideas = _active_ideas(segment).where(Idea.stage == Stage(str(segment["stage"])))
        owners = select(Idea.owner_id).where(Idea.id.in_(ideas))
        helpers = select(IdeaCollaborator.user_id).where(IdeaCollaborator.idea_id.in_(ideas))
        return users.where(User.id.in_(owners.union(helpers)))
    if kind == "overdue":
        # Owners of Deliver ideas with no monitoring report for the month (issue: "owners
        # who have not reported this month").
        reported = select(MonitoringReport.idea_id).where(
            MonitoringReport.period == str(segment["period"])
        )
        ideas = (
            _active_ideas(segment)
            .where(Idea.stage == Stage.DELIVER)
            .where(Idea.id.not_in(reported))
        )
        return users.where(User.id.in_(select(Idea.owner_id).where(Idea.id.in_(ideas))))
    if kind == "coordinators":
        coordinators = select(UserRole.user_id).where(UserRole.role == Role.COORDINATOR)
        if opds is not None:
            coordinators = coordinators.where(UserRole.opd_id.in_(list(opds)))
        return users.where(User.id.in_(coordinators))
    raise ValueError(f"unknown segment {segment!r}")


async def audience(
    session: AsyncSession, segment: dict[str, Any], now: datetime, *, exclude: int | None = None
) -> Audience:
    """Each person of the segment on the channel SASI writes to them first (the one they
    last wrote from; the terminal only when it is all they have), as
    :func:`storage.queries.preferred_identity` chooses, in one query for thousands."""
    wanted = _segment_users(segment)
    if exclude is not None:
        wanted = wanted.where(User.id != exclude)
    rows = await session.execute(
        select(
            User.id,
            User.locale,
            Identity.id,
            Identity.channel,
            Identity.external_id,
            Identity.last_inbound_at,
            Identity.blocked_at,
        )
        .outerjoin(Identity, Identity.user_id == User.id)
        .where(User.id.in_(wanted))
        .order_by(User.id)
    )
    oldest = datetime.min.replace(tzinfo=UTC)
    best: dict[int, tuple[tuple[bool, datetime, int], Recipient]] = {}
    seen: set[int] = set()
    for user_id, locale, identity_id, channel, external_id, last_in, blocked in rows:
        seen.add(user_id)
        if identity_id is None or blocked is not None:
            continue
        rank = (channel != "terminal", last_in or oldest, identity_id)
        closed = channel == "whatsapp" and (last_in is None or now - last_in >= WINDOW)
        candidate = Recipient(user_id, locale, channel, external_id, closed)
        if user_id not in best or rank > best[user_id][0]:
            best[user_id] = (rank, candidate)
    recipients = [best[u][1] for u in sorted(best)]
    return Audience(recipients=recipients, unreachable=len(seen) - len(recipients))


async def find_by_draft(session: AsyncSession, draft_key: str) -> Broadcast | None:
    return await session.scalar(select(Broadcast).where(Broadcast.draft_key == draft_key))


async def state_counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """How many of a broadcast's recipient rows are in each outbox state."""
    rows = await session.execute(
        select(_OUTBOX.c.state, func.count())
        .where(_OUTBOX.c.broadcast_id == broadcast_id, _OUTBOX.c.kind == KIND)
        .group_by(_OUTBOX.c.state)
    )
    return {str(state): int(n) for state, n in rows}


async def in_doubt_count(session: AsyncSession, broadcast_id: int) -> int:
    """How many of a broadcast's recipient rows were in flight at a crash and sent again."""
    count = await session.scalar(
        select(func.count()).where(
            _OUTBOX.c.broadcast_id == broadcast_id,
            _OUTBOX.c.kind == KIND,
            _OUTBOX.c.in_doubt.is_(True),
        )
    )
    return int(count or 0)


async def cancel(session: AsyncSession, broadcast: Broadcast, now: datetime) -> int:
    """Cancel what has not gone yet, in one UPDATE: rows in flight finish as they will.
    Returns how many rows were cancelled."""
    result = await session.execute(
        update(_OUTBOX)
        .where(
            and_(
                _OUTBOX.c.broadcast_id == broadcast.id,
                _OUTBOX.c.state == OutboxState.PENDING.value,
                _OUTBOX.c.kind == KIND,
            )
        )
        .values(
            state=OutboxState.CANCELLED.value,
            result="broadcast cancelled",
            finished_at=now,
        )
    )
    if broadcast.cancelled_at is None:
        broadcast.cancelled_at = now
    return int(getattr(result, "rowcount", 0) or 0)


async def running(session: AsyncSession) -> Sequence[Broadcast]:
    """Confirmed broadcasts whose final report has not been queued yet."""
    rows = await session.scalars(
        select(Broadcast)
        .where(Broadcast.confirmed_at.is_not(None), Broadcast.finished_at.is_(None))
        .order_by(Broadcast.id)
    )
    return list(rows)


async def sent_message_id(session: AsyncSession, key: str) -> int | None:
    """The Telegram message id recorded with a sent outbox row (``message_id:N``)."""
    result = await session.scalar(
        select(_OUTBOX.c.result).where(
            _OUTBOX.c.key == key, _OUTBOX.c.state == OutboxState.SENT.value
        )
    )
    if isinstance(result, str) and result.startswith("message_id:"):
        tail = result.removeprefix("message_id:")
        return int(tail) if tail.isdigit() else None
    return None


async def row_pending(session: AsyncSession, key: str) -> bool:
    """Whether the outbox row of ``key`` is still to be sent (waiting or in flight)."""
    state = await session.scalar(select(_OUTBOX.c.state).where(_OUTBOX.c.key == key))
    return state in (OutboxState.PENDING.value, OutboxState.SENDING.value)
