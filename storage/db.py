"""The database handle: engine and session factory, set up per backend.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives the bot crashing or
being killed, and only a power cut or an OS crash can undo the last commits. What SASI
must never lose is what it has acknowledged, so the inbound stores (an update received,
before Telegram or Meta is told so) commit through :meth:`Database.durable`, with a full
sync. Such a sync also makes every earlier commit durable, and anything a power cut undoes
after it is redone from the stored updates, which are replayed in order at the next start.
Syncing every commit instead would double the disk waits of each message, on the event
loop (see ``storage.sqlite_inline``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_inline

log = logging.getLogger(__name__)

# How long a statement waits for another process's write lock before "database is locked".
SQLITE_BUSY_SECONDS = 5.0
# PostgreSQL connections per process: kept open, and at most this many more in a burst.
# SQLAlchemy's 5 + 10 was too few for a replica taking webhooks from hundreds of people at
# once: every webhook stores its update on a connection of its own, the conversation steps
# queued behind them, and past the pool's 30 s wait a step failed ("please send it again").
# The burst connections are also opened and closed on the spot, a backend each time.
# Several replicas' pools together must stay under the server's max_connections.
PG_POOL_SIZE = int(os.environ.get("SASI_DB_POOL_SIZE", "10"))
PG_MAX_OVERFLOW = int(os.environ.get("SASI_DB_MAX_OVERFLOW", "10"))
PG_POOL_TIMEOUT = 60.0


class Database:
    """Owns the async engine. ``is_sqlite`` matters for locking: SQLite has no row locks."""

    def __init__(self, url: str, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            # Statements run on the loop's thread (see storage.sqlite_inline), so a wait for
            # SQLite's write lock would stall the loop: writers of this process queue on
            # ``writing()`` instead, and only another process can make SQLite wait.
            connect_args["timeout"] = SQLITE_BUSY_SECONDS
            if parsed.get_driver_name() == "aiosqlite":
                connect_args["async_creator_fn"] = sqlite_inline.connect
        self.engine: AsyncEngine = create_async_engine(
            url,
            echo=echo,
            connect_args=connect_args,
            pool_pre_ping=not self.is_sqlite,
            pool_use_lifo=True,
            **(
                {}
                if self.is_sqlite
                else {
                    "pool_size": PG_POOL_SIZE,
                    "max_overflow": PG_MAX_OVERFLOW,
                    "pool_timeout": PG_POOL_TIMEOUT,
                }
            ),
        )
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        self._sqlite_writer = asyncio.Lock()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold while a transaction that writes is open.

        SQLite has one writer at a time; transactions that collide make SQLite's busy handler
        sleep (1, 2, 5 … 100 ms) and, in WAL mode, can fail outright when a reader upgrades.
        Queuing writers here costs nothing and removes both. PostgreSQL needs no such queue:
        its row locks order what must be ordered.
        """
        if not self.is_sqlite:
            yield
            return
        async with self._sqlite_writer:
            yield

    @asynccontextmanager
    async def durable(self) -> AsyncIterator[AsyncConnection]:
        """A writing transaction that is on disk when it commits (see the module's doc)."""
        async with self.writing(), self.engine.connect() as conn:
            if self.is_sqlite:
                await _set_synchronous(conn, "FULL")
            try:
                async with conn.begin():
                    yield conn
            finally:
                if self.is_sqlite:
                    try:
                        await _set_synchronous(conn, "NORMAL")
                    except Exception:
                        # Never back in the pool syncing every commit: a new one replaces it.
                        log.exception("could not reset a SQLite connection's sync level")
                        await conn.invalidate()

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _set_synchronous(conn: AsyncConnection, level: str) -> None:
    # Outside any transaction: SQLite ignores the pragma inside one.
    await conn.exec_driver_sql(f"PRAGMA synchronous={level}")
    await conn.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # see the module's doc
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    cursor.close()
