"""The one aiohttp server: channel webhooks and ``/healthz``."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.channels.base import Channel
from storage.db import Database

DATABASE_KEY = web.AppKey("database", Database)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    if await request.app[DATABASE_KEY].ping():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "database unavailable"}, status=503)


def build_web_app(database: Database, channels: Sequence[Channel]) -> web.Application:
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app[DATABASE_KEY] = database
    app.router.add_get("/healthz", healthz)
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
