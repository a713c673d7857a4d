"""python-telegram-bot's requests on aiohttp (``bot.channels.telegram_http``), at the edges.

The everyday path (forms, multipart uploads, downloads, long polls) runs in every Telegram
test; here are the failures PTB must see as its own errors, so that its retry and
flood-control handling keeps working.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.telegram_http import AiohttpRequest
from tests.fakes.telegram_api import free_port


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_slow_answer_is_ptbs_timed_out(slow_server: str) -> None:
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{slow_server}/slow", "POST")
    finally:
        await request.shutdown()


async def test_an_upload_stalled_on_a_server_that_stops_reading_is_ptbs_timed_out(
    slow_server: str,
) -> None:
    # The server never reads the body: once the socket buffers fill, the upload stalls,
    # and aiohttp alone would wait for the kernel to give up (minutes).
    request = AiohttpRequest(read_timeout=0.2, connect_timeout=0.2, media_write_timeout=0.2)
    await request.initialize()
    upload = InputFile(b"x" * (64 * 1024 * 1024), filename="eviden.pdf")
    body = RequestData([RequestParameter.from_input("document", upload)])
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{slow_server}/slow", "POST", body)
    finally:
        await request.shutdown()


async def test_the_proxy_named_in_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))  # a proxy is asked for the absolute URL
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, _ = await request.do_request("http://api.telegram.invalid/botT/getMe", "POST")
    finally:
        await request.shutdown()
        await runner.cleanup()
    assert status == 200
    assert seen == ["http://api.telegram.invalid/botT/getMe"]


async def test_a_refused_connection_is_ptbs_network_error() -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"aiohttp\.ClientConnectorError"):
            await request.do_request(f"http://127.0.0.1:{free_port()}/nobody", "POST")
    finally:
        await request.shutdown()


async def test_a_request_before_initialise_or_after_shutdown_is_refused() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/x", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:1/x", "POST")
