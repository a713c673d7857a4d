"""The one aiohttp server: channel webhooks, ``/healthz`` and the dashboard (``/dasbor/``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.base import Channel
from storage.db import Database

if TYPE_CHECKING:
    from bot.config import Settings

DATABASE_KEY = web.AppKey("database", Database)


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


def build_web_app(
    database: Database, channels: Sequence[Channel], settings: Settings | None = None
) -> web.Application:
    """The routes; the dashboard is served when ``settings`` are given (``make run`` does)."""
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app[DATABASE_KEY] = database
    app.router.add_get("/healthz", healthz)
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
