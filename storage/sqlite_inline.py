"""aiosqlite's connection API, run on the event loop's own thread.

SQLAlchemy's asyncio support for SQLite goes through aiosqlite, which runs every call on
a worker thread: four or five hand-offs for each statement (cursor, execute, fetch,
close), each a queue put, a thread wake-up, a GIL hand-over and a wake-up of the loop.
A statement on a bot's database takes microseconds, far less than those hand-offs, and
on a busy machine each hand-off also waits for the OS to schedule the other thread. On
the Telegram benchmark, storing one update (an INSERT and a commit) cost about 2 ms of
the bot's time through the thread; inline it costs about a tenth of that. Commits run
inline too: with ``synchronous=NORMAL`` (see ``storage.db``) they do not wait for the
disk, and handing only them to a thread measured slower than waiting for the sync.

What this asks of the rest of the code: a statement that waits for SQLite's write lock
blocks the loop, so writers of this process queue on :meth:`storage.db.Database.writing`
instead of on SQLite's lock, and the busy timeout is short (another process holding the
lock is the only wait left). A query over a whole large table also holds the loop for
its duration; PostgreSQL is the database for deployments where that matters.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, cast

import aiosqlite


class _RunNow:
    """In place of aiosqlite's queue to its worker thread, for code that queues on it
    directly (SQLAlchemy's isolation-level setter does): runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An :class:`aiosqlite.Connection` whose calls run on the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = cast(Any, _RunNow())

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

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def connect(database: str, **kwargs: Any) -> InlineConnection:
    """The ``async_creator_fn`` SQLAlchemy's aiosqlite dialect calls with its connect args."""
    # SQLAlchemy may close a pooled connection from another thread at interpreter exit.
    kwargs["check_same_thread"] = False
    return InlineConnection(partial(sqlite3.connect, database, **kwargs))
