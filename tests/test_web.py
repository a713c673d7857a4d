"""The shared aiohttp server answers /healthz from the database."""

from __future__ import annotations

import socket

import aiohttp

from bot.app import Core
from bot.web import build_web_app, start_web_app
from storage.db import Database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_healthz_is_200_when_the_database_answers(core: Core) -> None:
    port = free_port()
    runner = await start_web_app(build_web_app(core.database, []), "127.0.0.1", port)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
            assert (await response.json()) == {"status": "ok"}
    finally:
        await runner.cleanup()


async def test_healthz_is_503_when_the_database_does_not() -> None:
    # Nothing listens on port 1: the connection is refused at once. (A SQLite file in a
    # missing folder would do too, but aiosqlite's failed connection thread outlives the loop.)
    broken = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    port = free_port()
    runner = await start_web_app(build_web_app(broken, []), "127.0.0.1", port)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 503
    finally:
        await runner.cleanup()
        await broken.dispose()
