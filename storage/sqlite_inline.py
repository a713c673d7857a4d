"""aiosqlite's connection API, run on the event loop's own thread except for commits.

SQLAlchemy's asyncio support for SQLite goes through aiosqlite, which runs every call on
a worker thread: four or five hand-offs for each statement (cursor, execute, fetch,
close), each a queue put, a thread wake-up, a GIL hand-over and a wake-up of the loop.
A SQLite statement on a bot's database takes microseconds, far less than those
hand-offs, and the GIL ping-pong also slows whatever else the loop is doing. Measured on
the Telegram benchmark, storing one update (one INSERT and a commit) cost about 2 ms of
the bot's time through the thread and a tenth of that inline.

So statements run inline. A commit is the one call that waits for the disk (an fsync), so
it still goes to a thread and the loop serves others meanwhile; a commit with nothing to
commit costs nothing. The connection is used by one coroutine at a time (SQLAlchemy's
pool hands it out), so the two threads never use it at once.

What this asks of the rest of the code: a statement that waits for SQLite's write lock
would block the loop, so writers in this process queue on
:meth:`storage.db.Database.writing` instead of on SQLite's lock (they did already, for
SQLite's busy handler's sake), and the busy timeout is short (another process holding
the lock is the only wait left).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import aiosqlite

# One thread is enough: commits are serialised by the writer queue anyway.
_COMMITS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-commit")


class InlineConnection(aiosqlite.Connection):
    """An :class:`aiosqlite.Connection` whose calls run inline, commits on a thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        # No worker thread to start.
        return self._connect().__await__()

    async def commit(self) -> None:
        connection = self._conn
        if not connection.in_transaction:
            return
        connection.commit()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """The ``async_creator_fn`` SQLAlchemy's aiosqlite dialect calls with its connect args."""
    kwargs["check_same_thread"] = False  # commits run on the commit thread
    return InlineConnection(partial(sqlite3.connect, database, **kwargs))
