"""The one aiohttp server: channel webhooks, ``/healthz``, ``/readyz`` and the dashboard
(``/dasbor/``).

``/healthz`` says whether this replica reaches the database (a liveness probe).
``/readyz`` says whether it should get traffic: the schema at head, the similarity index
built, the channels started, and not stopping. A load balancer drains a stopping replica on
it; its webhooks answer 503 meanwhile, so the proxy (or Telegram, later) delivers the
update to another replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import Channel
from storage.db import Database
from storage.migrate import current_revision, head_revision

if TYPE_CHECKING:
    from bot.config import Settings

DATABASE_KEY = web.AppKey("database", Database)


@dataclass
class Readiness:
    """What ``/readyz`` reports; the composition root moves it along."""

    index_built: bool = False
    channels_started: bool = False
    stopping: bool = False
    head: str | None = None  # the code's newest migration (found once)
    # The channels this replica is the elected sender for (shown to operators and the bench).
    sending: Callable[[], list[str]] = lambda: []


READINESS_KEY = web.AppKey("readiness", Readiness)


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes.

    Refused on its Content-Length before anything is read, and read with a cap otherwise
    (a chunked body declares no length), so an oversized body is never held whole.
    """
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    if await request.app[DATABASE_KEY].ping():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "database unavailable"}, status=503)


async def readyz(request: web.Request) -> web.Response:
    """200 when this replica may take traffic; 503 with the reason otherwise."""
    readiness = request.app[READINESS_KEY]
    database = request.app[DATABASE_KEY]
    reason: str | None = None
    if readiness.stopping:
        reason = "stopping"
    elif not readiness.index_built:
        reason = "similarity index not built"
    elif not readiness.channels_started:
        reason = "channels starting"
    elif not await database.ping():
        reason = "database unavailable"
    else:
        if readiness.head is None:
            readiness.head = head_revision()
        current = await current_revision(database)
        if current != readiness.head:
            reason = f"database at revision {current}, not at head {readiness.head}"
    if reason is not None:
        return web.json_response({"status": "not ready", "reason": reason}, status=503)
    return web.json_response({"status": "ready", "sending": readiness.sending()})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Webhook POSTs handled at once. Each stores its update on a pooled database connection and
# answers; past this they wait their turn here, not for a connection: a burst of webhooks
# holding the whole pool would starve the steps in progress (which need a connection to
# commit, and sometimes a second one), and a redelivered update's store waits for the step
# that holds its row: together, a pool-wide deadlock that only the pool's timeout broke.
MAX_CONCURRENT_POSTS = 4


def _refuse_when_stopping(readiness: Readiness) -> Callable[..., Awaitable[web.StreamResponse]]:
    posts = asyncio.Semaphore(MAX_CONCURRENT_POSTS)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST":
            return await handler(request)
        if readiness.stopping:
            # Not stored, so not this replica's to finish: the sender delivers it again.
            return web.json_response({"status": "stopping"}, status=503)
        async with posts:
            return await handler(request)

    return middleware


def build_web_app(
    database: Database,
    channels: Sequence[Channel],
    readiness: Readiness | None = None,
    settings: Settings | None = None,
) -> web.Application:
    """The routes; the dashboard is served when ``settings`` are given (``make run`` does)."""
    readiness = readiness or Readiness(index_built=True, channels_started=True)
    app = web.Application(
        client_max_size=25 * 1024 * 1024, middlewares=[_refuse_when_stopping(readiness)]
    )
    app[DATABASE_KEY] = database
    app[READINESS_KEY] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings is not None:
        from bot.dashboard.routes import mount

        mount(app, database, settings)
    for channel in channels:
        channel.add_routes(app)
    return app


async def start_web_app(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; the caller owns the runner and calls ``cleanup()`` on shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
