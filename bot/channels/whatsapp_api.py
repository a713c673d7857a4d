"""A small client of the WhatsApp Cloud API (Graph API): messages and media, with retries.

Rate limits (HTTP 429, error codes 130429 and 131056) and transient failures are retried with
backoff; when the attempts run out, or the error is permanent, :class:`GraphApiError` is
raised so the caller logs it and nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Backoff = Callable[[int], float]

# Codes Meta documents as "try again later": throughput, pair rate limit, app/account rate
# limits, temporary unavailability.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 80007, 130429, 131056, 133004})
# Pair rate limit (too many messages to one user): Meta suggests waiting before the next one.
PAIR_RATE_LIMIT = 131056
PAIR_RATE_LIMIT_DELAY = 6.0


def default_backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4, 8, 16 seconds, at most 60."""
    return float(min(60.0, 2.0 ** (attempt - 1)) * random.uniform(0.8, 1.2))


class GraphApiError(Exception):
    """The Graph API refused a request, or kept failing until the attempts ran out."""

    def __init__(
        self, status: int, code: int | None, message: str, *, retryable: bool = False
    ) -> None:
        super().__init__(f"Graph API error (HTTP {status}, code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class MediaInfo:
    """What ``GET /{media-id}`` answers."""

    url: str
    mime_type: str | None
    file_size: int | None
    sha256: str | None


class MediaTooLarge(Exception):
    """A user's file is over the size SASI keeps."""


class GraphClient:
    """Calls to ``{base_url}``; the base URL includes the Graph API version."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        phone_number_id: str,
        token: str,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff = default_backoff,
        max_attempts: int = 6,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        # Every id that goes into a path is quoted whole: an id is one segment, never a path.
        self._phone_number_id = _segment(phone_number_id)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._sleep = sleep
        self._backoff = backoff
        self._max_attempts = max_attempts

    async def send_message(self, payload: Mapping[str, Any]) -> str:
        """POST one message; returns its ``wamid``."""
        url = f"{self._base}/{self._phone_number_id}/messages"
        answer = await self._call("POST", url, json=dict(payload), idempotent=False)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            # Not the answer itself: it names the recipient.
            raise GraphApiError(200, None, "no message id in the answer") from exc

    async def upload_media(self, path: Path, mime_type: str, file_name: str) -> str:
        """Upload a file for sending; returns the media id."""
        url = f"{self._base}/{self._phone_number_id}/media"
        content = await asyncio.to_thread(path.read_bytes)

        def form() -> aiohttp.FormData:
            # A FormData is consumed by a request, so every attempt builds its own.
            data = aiohttp.FormData()
            data.add_field("messaging_product", "whatsapp")
            data.add_field("type", mime_type)
            data.add_field("file", content, filename=file_name, content_type=mime_type)
            return data

        answer = await self._call("POST", url, data_factory=form)
        return str(answer["id"])

    async def media_info(self, media_id: str) -> MediaInfo:
        """``GET /{media-id}``: where to download a user's file, and what it is."""
        answer = await self._call("GET", f"{self._base}/{_segment(media_id)}")
        size = answer.get("file_size")
        return MediaInfo(
            url=str(answer["url"]),
            mime_type=answer.get("mime_type"),
            file_size=int(size) if size is not None else None,
            sha256=answer.get("sha256"),
        )

    async def download(self, url: str, destination: Path, max_bytes: int) -> int:
        """Fetch a media URL (bearer token required) into ``destination``; returns its size."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with self._session.get(url, headers=self._headers) as response:
                    if response.status == 429 or response.status >= 500:
                        raise GraphApiError(
                            response.status, None, "media download failed", retryable=True
                        )
                    if response.status != 200:
                        raise GraphApiError(response.status, None, "media download refused")
                    size = 0
                    with destination.open("wb") as handle:
                        async for chunk in response.content.iter_chunked(64 * 1024):
                            size += len(chunk)
                            if size > max_bytes:
                                raise MediaTooLarge(f"{url} is over {max_bytes} bytes")
                            handle.write(chunk)
                    return size
            except (GraphApiError, aiohttp.ClientError, TimeoutError) as exc:
                _discard(destination)
                if not _retryable(exc) or attempt == self._max_attempts:
                    raise
                await self._wait(attempt, exc, None)
            except MediaTooLarge:
                _discard(destination)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        data_factory: Callable[[], aiohttp.FormData] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One Graph API call, retried on rate limits and server errors.

        A request that is not idempotent (sending a message) is not retried after a timeout
        or a broken connection: Meta may have accepted it, and a person must not get the same
        message twice. It fails loudly instead; one that never connected is retried.
        """
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                async with self._session.request(
                    method,
                    url,
                    json=json,
                    data=data_factory() if data_factory else None,
                    headers=self._headers,
                ) as response:
                    body = await _json_body(response)
                    if response.status == 200:
                        return body
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    raise _error(response.status, body)
            except (GraphApiError, aiohttp.ClientError, TimeoutError) as exc:
                ambiguous = not isinstance(exc, GraphApiError | aiohttp.ClientConnectorError)
                if (
                    not _retryable(exc)
                    or attempt == self._max_attempts
                    or (ambiguous and not idempotent)
                ):
                    log.error("%s %s failed after %d attempt(s): %s", method, url, attempt, exc)
                    raise
                await self._wait(attempt, exc, retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait(self, attempt: int, exc: BaseException, retry_after: float | None) -> None:
        delay = self._backoff(attempt)
        if isinstance(exc, GraphApiError) and exc.code == PAIR_RATE_LIMIT:
            delay = max(delay, PAIR_RATE_LIMIT_DELAY)
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning("Graph API: %s; retrying in %.1f s (attempt %d)", exc, delay, attempt)
        await self._sleep(delay)


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an empty id cannot name a Graph API object")
    return quote(value, safe="")


def _discard(path: Path) -> None:
    # A partial download must not be mistaken for the user's file.
    path.unlink(missing_ok=True)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, GraphApiError):
        return exc.retryable
    return isinstance(exc, aiohttp.ClientError | TimeoutError)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def _json_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, body: Mapping[str, Any]) -> GraphApiError:
    error = body.get("error") or {}
    code = error.get("code")
    code = code if isinstance(code, int) else None
    details = (error.get("error_data") or {}).get("details")
    message = str(error.get("message") or "unknown error")
    if details:
        message = f"{message} ({details})"
    retryable = status == 429 or status >= 500 or code in RETRYABLE_CODES
    return GraphApiError(status, code, message, retryable=retryable)
