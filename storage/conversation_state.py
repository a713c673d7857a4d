"""Loading a person with their conversation state, and saving the state: once per message.

Both run for every message, so the statements are built once, and the state goes through
plain INSERT/UPDATE statements rather than the ORM's unit of work: the state is a few JSON
columns written whole, and flushing it as an ORM object cost more than the rest of a
typical step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import ConversationState, Identity, User

_STATE = cast(Table, ConversationState.__table__)
_STATE_COLUMNS = (_STATE.c.frames, _STATE.c.offered, _STATE.c.version, _STATE.c.updated_at)
_PERSON = (
    select(Identity, User, *_STATE_COLUMNS)
    .join(User, Identity.user_id == User.id)
    .outerjoin(_STATE, _STATE.c.user_id == User.id)
    .where(
        Identity.channel == bindparam("b_channel"),
        Identity.external_id == bindparam("b_external_id"),
    )
)
# PostgreSQL: the person's row is their lock across processes (the state is only written
# under it), the identity's too, because linking moves identities between people. The state
# is read by a second statement, after the lock is held: a statement that waited for a lock
# still sees the other tables as they were when it began, i.e. possibly the state from
# before the transaction that held the lock.
_PERSON_LOCKED = (
    select(Identity, User)
    .join(User, Identity.user_id == User.id)
    .where(
        Identity.channel == bindparam("b_channel"),
        Identity.external_id == bindparam("b_external_id"),
    )
    .with_for_update(of=[Identity, User])
)
_STATE_OF = select(*_STATE_COLUMNS).where(_STATE.c.user_id == bindparam("b_user"))
_INSERT_STATE = _STATE.insert()
# No .values(): the parameters name the columns to set (frames, offered, version, updated_at).
# The version check turns a write over a state this step did not see into an error, never a
# silent loss of the newer state.
_UPDATE_STATE = _STATE.update().where(
    _STATE.c.user_id == bindparam("b_user"), _STATE.c.version == bindparam("b_seen")
)


class StaleStateError(RuntimeError):
    """The conversation state changed after this step read it."""


@dataclass
class StoredState:
    """A person's saved conversation: ``version`` is None when nothing was saved yet.

    ``updated_at`` is when it was last saved, so the engine can tell a conversation resumed
    after a break (or by a newer process) from one still going."""

    frames: list[Any]
    offered: list[Any]
    version: int | None
    updated_at: datetime | None = None


async def load_person(
    session: AsyncSession, channel: str, external_id: str, *, lock: bool
) -> tuple[Identity, User, StoredState] | None:
    """The identity, its person and their conversation state (one query on SQLite; on
    PostgreSQL the person is locked first and the state read after, see above)."""
    params = {"b_channel": channel, "b_external_id": external_id}
    state: Sequence[Any] | None
    if lock:
        locked = (await session.execute(_PERSON_LOCKED, params)).unique().first()
        if locked is None:
            return None
        identity, user = locked
        state = (await session.execute(_STATE_OF, {"b_user": user.id})).first()
    else:
        row = (await session.execute(_PERSON, params)).unique().first()
        if row is None:
            return None
        identity, user, state = row[0], row[1], row[2:]
    frames, offered, version, updated_at = state or (None, None, None, None)
    return identity, user, StoredState(frames or [], offered or [], version, updated_at)


async def save_state(
    session: AsyncSession,
    user_id: int,
    stored: StoredState,
    frames: list[Any],
    offered: list[Any],
    now: datetime,
) -> int:
    """Write the conversation over ``stored``; returns the new version."""
    version = (stored.version or 0) + 1
    values = {"frames": frames, "offered": offered, "version": version, "updated_at": now}
    if stored.version is None:
        await session.execute(_INSERT_STATE, {"user_id": user_id, **values})
    else:
        result = await session.execute(
            _UPDATE_STATE, {"b_user": user_id, "b_seen": stored.version, **values}
        )
        if getattr(result, "rowcount", 1) != 1:
            raise StaleStateError(f"conversation state of user {user_id} changed meanwhile")
    stored.version = version
    stored.updated_at = now
    return version


async def touch_states(database: Database, user_ids: Sequence[int], now: datetime) -> None:
    """Mark these people's pending questions as asked ``now`` (they were just sent again)."""
    if not user_ids:
        return
    async with database.writing(), database.sessions() as session, session.begin():
        await session.execute(
            _STATE.update().where(_STATE.c.user_id.in_(list(user_ids))).values(updated_at=now)
        )
