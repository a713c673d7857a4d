"""The audit log: every act of a coordinator, Bappeda officer or admin, with before and after.

Written in the same transaction as the change it describes, so the log never claims what did
not happen and never misses what did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, User, utcnow

CLI_ACTOR = "cli"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Actor:
    """Who acted: a person (by id, with a readable label) or the command line."""

    label: str
    user_id: int | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        name = user.full_name or f"user {user.id}"
        return cls(label=f"{name} ({user.nip})" if user.nip else name, user_id=user.id)


CLI = Actor(CLI_ACTOR)
# A Direktori Inovasi export, from chat (/ekspor) or the dashboard: who, when, what.
EXPORT_ACTION = "directory.export"
SYSTEM = Actor(SYSTEM_ACTOR)


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one entry to the session; it is committed with the change it describes."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor_id=actor.user_id,
        actor=actor.label[:120],
        action=action[:40],
        subject=subject[:60],
        before=before,
        after=after,
        note=note,
    )
    session.add(entry)
    return entry


async def entries(
    session: AsyncSession,
    subject: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> Sequence[AuditEntry]:
    """Entries oldest first, optionally about one subject or since a moment."""
    query = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


def export_audit(
    via: str,
    fmt: str,
    scope: frozenset[int] | None,
    ideas: int,
    wanted: dict[str, object] | None = None,
    part: str | None = None,
) -> dict[str, Any]:
    """The ``after`` of an export's audit entry: channel, format, scope, filter, size."""
    after: dict[str, Any] = {
        "via": via,
        "format": fmt,
        "scope": "all" if scope is None else sorted(scope),
        "filter": wanted or {},
        "ideas": ideas,
    }
    if part is not None:
        after["part"] = part
    return after
