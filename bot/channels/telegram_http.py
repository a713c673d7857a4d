"""python-telegram-bot's networking on aiohttp instead of httpx.

PTB lets an application bring its own HTTP backend (``telegram.request.BaseRequest``).
SASI already runs aiohttp for its web server and the WhatsApp Graph API client, and
aiohttp parses HTTP in C: against the loopback Bot API it spends about a third of the CPU
that httpx (pure-Python HTTP/1.1 via httpcore and h11, plus anyio) spends on each call,
and every update costs at least two calls (``getUpdates`` and ``sendMessage``).

Timeouts follow PTB's meaning: ``connect_timeout`` covers waiting for a pooled
connection and connecting, ``read_timeout`` each read of the answer. aiohttp has no write
timeout of its own (and starts reading only once the body is sent), so an upload is
bounded as a whole by the sum of the three: one stalled on a dead connection fails as
PTB's ``TimedOut`` like it does with httpx. Like httpx, the session
honours ``HTTPS_PROXY``/``HTTP_PROXY`` and does not follow redirects.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` on one :class:`aiohttp.ClientSession`."""

    __slots__ = (
        "_connect_timeout",
        "_connection_pool_size",
        "_media_write_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        # The defaults are PTB's own (HTTPXRequest).
        self._connection_pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )
            self._proxies = {}

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for this URL's server, looked up once per server.

        aiohttp's own ``trust_env`` looks again on every request (and reads ~/.netrc), which
        cost more than the rest of a request.
        """
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._proxies:
            bypass = proxy_bypass(parts.hostname or "")
            proxies = getproxies()
            chosen = proxies.get(parts.scheme) or proxies.get("all")  # ALL_PROXY, as httpx
            self._proxies[origin] = None if bypass else chosen
        return self._proxies[origin]

    async def _before_request(self, url: str) -> None:
        """A hook for subclasses, awaited before each request is sent."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        await self._before_request(url)
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if not isinstance(pool_timeout, DefaultValue) and pool_timeout is not None:
            # aiohttp counts the wait for a free pooled connection in its connect timeout.
            connect_timeout = (connect_timeout or 0) + pool_timeout
        body = _body(request_data)
        total = None
        if request_data is not None and request_data.contains_files:
            # A form without files fits the socket's buffer: only an upload can stall.
            if isinstance(write_timeout, DefaultValue):
                write_timeout = self._media_write_timeout
            if None not in (write_timeout, read_timeout, connect_timeout):
                total = (write_timeout or 0) + (read_timeout or 0) + (connect_timeout or 0)
        timeout = aiohttp.ClientTimeout(
            total=total, connect=connect_timeout, sock_read=read_timeout
        )
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy_for(url),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # Like PTB's own backend: the class name says more than an often empty message.
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _body(request_data: RequestData | None) -> Any:
    """Form fields, as multipart when the request carries files (PTB's own encoding)."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not request_data.contains_files:
        # Encoded here: handed a dict, aiohttp builds a multipart writer (with a random
        # boundary) before finding out that it will send a plain form after all.
        return aiohttp.payload.BytesPayload(
            urlencode(fields).encode(), content_type="application/x-www-form-urlencoded"
        )
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (file_name, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=file_name, content_type=mime_type)
    return form


_MAX_KEPT = 10_000


class UpdatesRequest(AiohttpRequest):
    """The ``getUpdates`` request: also keeps each update exactly as Telegram sent it.

    The channel stores every update before processing it. Rebuilding the JSON from PTB's
    objects (``Update.to_dict``) cost more than the rest of storing it, and the webhook
    stores the body it received: polling now stores what it received too.
    """

    __slots__ = ("before_poll", "received")

    def __init__(self) -> None:
        # One connection: there is only ever one poll at a time.
        super().__init__(connection_pool_size=1)
        self.received: dict[int, dict[str, Any]] = {}
        # Awaited before each poll: a poll confirms the batch before it (its offset), so the
        # channel holds it until that batch is stored.
        self.before_poll: Callable[[], Awaitable[None]] | None = None

    async def _before_request(self, url: str) -> None:
        if self.before_poll is not None and url.endswith("/getUpdates"):
            await self.before_poll()

    def parse_json_payload(self, payload: bytes) -> JSONDict:  # type: ignore[override]
        parsed = super().parse_json_payload(payload)
        result = parsed.get("result")
        if isinstance(result, list) and result:
            if len(self.received) > _MAX_KEPT:
                # Only updates PTB never handed over linger; those would be rebuilt anyway.
                self.received.clear()
            # A second parse, so that nothing PTB does to its own copy can reach ours.
            for update in json.loads(payload).get("result", []):
                if isinstance(update, dict) and isinstance(update.get("update_id"), int):
                    self.received[update["update_id"]] = update
        return parsed

    def take(self, update_id: int) -> dict[str, Any] | None:
        """The update as received, once; None for one that did not come from a poll."""
        return self.received.pop(update_id, None)
