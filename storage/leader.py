"""One replica at a time does a job: PostgreSQL session-level advisory locks.

Several ``python -m bot run`` replicas share one database. Some work must be done by one of
them only: sending through a bot token or a WhatsApp number (the channel's rate limit is
the token's, not the process's). Each such job has a lock name; every replica's
:class:`Elector` tries ``pg_try_advisory_lock`` on a dedicated connection every couple of
seconds, and the one that gets it holds it as long as that connection lives. When the holder
dies, PostgreSQL closes its connection and frees the lock, and another replica takes it at
its next try. The holder checks its connection at the same pace: a connection that broke
(the lock is gone with it) makes it step down at once.

SQLite has one process by design: there the elector leads from the start.

The same connection LISTENs for ``NOTIFY`` on channels the caller names: the replicas that
do not send wake the one that does (see :mod:`bot.outbox.election`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # how often a follower tries to lead, and the leader checks its connection
CHECK_TIMEOUT = 5.0  # a leader whose connection does not answer this fast steps down
APPLICATION_NAME = "sasi"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a lock name."""
    digest = hashlib.sha256(f"sasi:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def token_hash(secret: str) -> str:
    """A short digest naming a token in a lock name (never the token itself: lock names
    show up in logs)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` form asyncpg wants, from SQLAlchemy's URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


Listener = Callable[[str], None]  # called with a NOTIFY's payload


class Elector:
    """Leads a job while it holds the job's advisory lock (always, on SQLite)."""

    def __init__(
        self,
        database_url: str,
        name: str,
        *,
        retry_seconds: float = RETRY_SECONDS,
        listen: Sequence[tuple[str, Listener]] = (),
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = name
        self.key = lock_key(name)
        self._url = database_url
        self._postgresql = is_postgresql(database_url)
        self._retry = retry_seconds
        self._listen = list(listen)
        self._on_change = on_change
        self._conn: Any = None  # an asyncpg connection
        self._leading = not self._postgresql
        self._closed = False
        # One operation at a time on the connection: asyncpg refuses a second one while the
        # first runs, and an unlock refused that way leaves the lock to the server's cleanup
        # of the closed connection, which the next replica's first try can beat.
        self._guard = asyncio.Lock()
        self.changes = 0  # how many times leadership came or went (tests, logs)

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def step(self) -> bool:
        """One round: connect if needed, then try to lead or check we still do."""
        if not self._postgresql or self._closed:
            return self._leading
        async with self._guard:
            if self._closed:
                return self._leading
            await self._step()
        return self._leading

    async def _step(self) -> None:
        try:
            if self._conn is None or self._conn.is_closed():
                await self._connect()
            if self._leading:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), CHECK_TIMEOUT)
            else:
                got = await asyncio.wait_for(
                    self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key),
                    CHECK_TIMEOUT,
                )
                if got:
                    self._set(True)
        except Exception as exc:
            # The lock lived in that connection: whatever happened, it is not ours now.
            log.warning("%s: database connection lost (%s)", self.name, type(exc).__name__)
            await self._drop()

    async def run(self, stop: asyncio.Event) -> None:
        """Try and check every ``retry_seconds`` until ``stop``; then give the lock up."""
        try:
            while not stop.is_set() and not self._closed:
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._retry)
        finally:
            await self.close()

    async def close(self) -> None:
        """Release the lock (so another replica leads at its next try) and the connection."""
        self._closed = True
        async with self._guard:
            if self._conn is not None and not self._conn.is_closed():
                with contextlib.suppress(Exception):
                    if self._leading:
                        await asyncio.wait_for(
                            self._conn.fetchval("SELECT pg_advisory_unlock($1)", self.key),
                            CHECK_TIMEOUT,
                        )
            await self._drop()

    async def kill_connection_for_tests(self) -> None:
        """Drop the connection without unlocking, as a crash would."""
        if self._conn is not None:
            self._conn.terminate()

    async def _connect(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        await self._drop()
        self._conn = await asyncpg.connect(
            asyncpg_dsn(self._url),
            server_settings={"application_name": f"{APPLICATION_NAME}:{self.name}"[:63]},
        )
        for channel, listener in self._listen:
            await self._conn.add_listener(channel, _callback(listener))

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), CHECK_TIMEOUT)
            if not conn.is_closed():
                conn.terminate()
        if self._leading and self._postgresql:
            self._set(False)

    def _set(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        self.changes += 1
        log.info("%s: %s", self.name, "leading" if leading else "no longer leading")
        if self._on_change is not None:
            self._on_change(leading)


def _callback(listener: Listener) -> Callable[[Any, int, str, str], None]:
    def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        listener(payload)

    return on_notify
