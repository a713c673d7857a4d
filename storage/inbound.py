"""Inbound updates: stored before a webhook is acknowledged, processed exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import InboundUpdate, utcnow

_TABLE = cast(Table, InboundUpdate.__table__)
MAX_ATTEMPTS = 3  # failed processing attempts before an update is set aside
MAX_FAILURE_CHARS = 200  # inbound_updates.failure
# Built once: every update a channel receives runs these two, and building a statement
# costs several times what executing it does.
_STORE = _TABLE.insert()
_CLAIM = (
    _TABLE.update()
    .where(
        _TABLE.c.channel == bindparam("b_channel"),
        _TABLE.c.update_key == bindparam("b_key"),
        _TABLE.c.processed_at.is_(None),
    )
    .values(processed_at=bindparam("b_now"))
)


@dataclass(frozen=True)
class StoredUpdate:
    channel: str
    update_key: str
    payload: dict[str, Any] | None
    id: int = 0  # storage order: replay pages through it


class InboundStore:
    """The channels' side of update de-duplication; the engine marks updates processed."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._store_new: Any = None

    async def store(self, channel: str, update_key: str, payload: dict[str, Any] | None) -> bool:
        """Keep an update. False when it was stored before (a redelivery)."""
        # A plain INSERT (no ORM unit of work): this runs for every update a channel receives.
        row = {
            "channel": channel,
            "update_key": update_key,
            "payload": payload,
            "received_at": utcnow(),
        }
        try:
            async with self._db.durable() as conn:
                await conn.execute(_STORE, row)
        except IntegrityError:
            return False
        return True

    async def store_many(
        self, channel: str, updates: Sequence[tuple[str, dict[str, Any] | None]]
    ) -> set[str]:
        """Keep a batch of updates in one transaction; the keys still to be processed.

        Those are the updates new here and any stored before but not processed yet: after a
        store that committed but whose answer was lost, its retry finds them stored, and
        they must still be processed (the engine's claim keeps that to once). A poll brings
        updates in batches, and one commit for the batch costs what one for each would.
        """
        if not updates:
            return set()
        now = utcnow()
        rows = [
            {"channel": channel, "update_key": key, "payload": payload, "received_at": now}
            for key, payload in updates
        ]
        statement = self._store_unprocessed()
        async with self._db.durable() as conn:
            result = await conn.execute(statement, rows)
            return {str(key) for key in result.scalars()}

    def _store_unprocessed(self) -> Any:
        # Dialect-specific upsert. On a conflict with an unprocessed row, a no-op update
        # makes RETURNING report it; a processed one (a redelivery) is left out.
        if self._store_new is None:
            dialect = self._db.engine.dialect.name
            insert = sqlite_insert(_TABLE) if dialect == "sqlite" else postgresql_insert(_TABLE)
            self._store_new = insert.on_conflict_do_update(
                index_elements=["channel", "update_key"],
                set_={"update_key": insert.excluded.update_key},
                where=_TABLE.c.processed_at.is_(None),
            ).returning(_TABLE.c.update_key)
        return self._store_new

    async def ref(self, channel: str, update_key: str) -> int | None:
        """The row id of a stored update: how logs name it (keys may encode a phone number)."""
        async with self._db.sessions() as session:
            return await session.scalar(
                select(InboundUpdate.id).where(
                    InboundUpdate.channel == channel, InboundUpdate.update_key == update_key
                )
            )

    async def is_processed(self, channel: str, update_key: str) -> bool:
        async with self._db.sessions() as session:
            row = await _find(session, channel, update_key)
            return row is not None and row.processed_at is not None

    async def unprocessed(
        self, channel: str, limit: int = 500, after_id: int = 0
    ) -> list[StoredUpdate]:
        """Updates acknowledged but not processed, oldest first: replayed after a crash.

        One page; pass the last ``id`` seen as ``after_id`` for the next (see ``backlog``).
        """
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(InboundUpdate)
                .where(
                    InboundUpdate.channel == channel,
                    InboundUpdate.processed_at.is_(None),
                    InboundUpdate.id > after_id,
                )
                .order_by(InboundUpdate.id)
                .limit(limit)
            )
            return [StoredUpdate(r.channel, r.update_key, r.payload, r.id) for r in rows]

    async def backlog(self, channel: str, page: int = 500) -> AsyncIterator[StoredUpdate]:
        """Every unprocessed update, oldest first, however many there are."""
        after = 0
        while True:
            rows = await self.unprocessed(channel, limit=page, after_id=after)
            for row in rows:
                yield row
            if len(rows) < page:
                return
            after = rows[-1].id

    async def mark_processed(self, channel: str, update_key: str) -> None:
        """For updates that never reach the engine (status callbacks, ignored group chatter)."""
        async with self._db.writing(), self._db.sessions() as session, session.begin():
            await claim_update(session, channel, update_key)

    async def set_aside(
        self, channel: str, update_key: str, reason: str, payload: dict[str, Any] | None = None
    ) -> None:
        """Never process this update: mark it done and failed, and keep it for inspection.

        For an update that cannot be parsed or keeps failing: left unprocessed, it would be
        replayed, and fail, at every start, and hold up the updates behind it.
        """
        now = utcnow()
        reason = reason[:MAX_FAILURE_CHARS]
        async with self._db.writing(), self._db.sessions() as session, session.begin():
            row = await _find(session, channel, update_key)
            if row is None:
                session.add(
                    InboundUpdate(
                        channel=channel,
                        update_key=update_key,
                        payload=payload,
                        received_at=now,
                        processed_at=now,
                        failed_at=now,
                        failure=reason,
                    )
                )
                return
            row.processed_at = row.processed_at or now
            row.failed_at = now
            row.failure = reason

    async def record_failure(
        self, channel: str, update_key: str, reason: str, *, limit: int = MAX_ATTEMPTS
    ) -> bool:
        """Count a failed attempt to process an update; True when it is now set aside.

        A failure that may pass (the database or a remote API unavailable) leaves the update
        to be tried again at the next start, at most ``limit`` times in all.
        """
        async with self._db.writing(), self._db.sessions() as session, session.begin():
            row = await _find(session, channel, update_key)
            if row is None or row.processed_at is not None:
                return False
            row.attempts = (row.attempts or 0) + 1
            if row.attempts < limit:
                return False
            now = utcnow()
            row.processed_at = now
            row.failed_at = now
            row.failure = reason[:MAX_FAILURE_CHARS]
            return True

    async def set_aside_count(self, channel: str) -> int:
        """How many updates of a channel were set aside (for tests and operators)."""
        async with self._db.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(InboundUpdate)
                .where(InboundUpdate.channel == channel, InboundUpdate.failed_at.is_not(None))
            )
            return int(count or 0)


async def _find(session: AsyncSession, channel: str, update_key: str) -> InboundUpdate | None:
    return await session.scalar(
        select(InboundUpdate).where(
            InboundUpdate.channel == channel, InboundUpdate.update_key == update_key
        )
    )


async def claim_update(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Mark an update processed inside the caller's transaction. False if it already was.

    The row is locked on PostgreSQL, so two workers racing on a redelivery process it once.
    """
    now = utcnow()
    # The common case (a channel stored the update first) is one conditional UPDATE; its row
    # lock makes a racing worker wait, then find nothing left to claim.
    claimed = await session.execute(
        _CLAIM, {"b_channel": channel, "b_key": update_key, "b_now": now}
    )
    if _rowcount(claimed) == 1:
        return True
    exists = await session.scalar(
        select(InboundUpdate.id).where(
            InboundUpdate.channel == channel, InboundUpdate.update_key == update_key
        )
    )
    if exists is not None:
        return False  # processed before
    # Never stored by a channel (the terminal, tests): record it as processed now. Two
    # workers may present the same new key at once: the loser's insert does nothing, and it
    # is a redelivery for it.
    inserted = await session.scalar(
        _claim_new(session.get_bind().dialect.name),
        {"channel": channel, "update_key": update_key, "received_at": now, "processed_at": now},
    )
    return inserted is not None


_CLAIM_NEW: dict[str, Any] = {}


def _claim_new(dialect: str) -> Any:
    # Built once per dialect, like the other statements run for every update.
    statement = _CLAIM_NEW.get(dialect)
    if statement is None:
        insert = sqlite_insert(_TABLE) if dialect == "sqlite" else postgresql_insert(_TABLE)
        statement = _CLAIM_NEW[dialect] = insert.on_conflict_do_nothing(
            index_elements=["channel", "update_key"]
        ).returning(_TABLE.c.id)
    return statement


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
