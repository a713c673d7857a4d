"""POSTs the outbox's ``push`` rows to Bappeda, signed, until each one is accepted.

The body is the row's stored JSON text, byte for byte the same on every attempt, signed
with HMAC-SHA256 of those bytes under ``SASI_BAPPEDA_PUSH_SECRET``:
``X-SASI-Signature: sha256=<hex>``. A 2xx answer finishes the row as sent (it is never
sent again); anything else (another status, a refused connection, a timeout) gives it
back to the outbox with backoff (30 s doubling to an hour), for as long as it takes: a
digest is never dropped. Rows are claimed like every outbox row, so two processes never
post the same row at once, and a process killed mid-post leaves it to the next lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp

from bot.outbox.sender import backoff
from bot.scheduler.digest import PUSH_CHANNEL
from storage.models import utcnow
from storage.outbox import Claimed, OutboxState, OutboxStore

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SASI-Signature"
TIMEOUT = aiohttp.ClientTimeout(total=20)
POLL_SECONDS = 5.0
BATCH = 10


def signature(secret: str, body: bytes) -> str:
    """The header's value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PushSender:
    def __init__(
        self,
        store: OutboxStore,
        url: str,
        secret: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = POLL_SECONDS,
        on_refused: Callable[[Claimed, str, datetime], Awaitable[int]] | None = None,
    ) -> None:
        self.store = store
        # Told of each refusal, to alert people once it has lasted (bot/push/alert.py).
        self.on_refused = on_refused
        self.url = url
        self.secret = secret
        self.clock = clock
        self._poll = poll_seconds

    async def send_due(self) -> int:
        """One pass over the push rows due now; how many were tried."""
        rows = await self.store.claim(self.clock(), [PUSH_CHANNEL], BATCH)
        if not rows:
            return 0
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            for row in rows:
                await self._post(session, row)
        return len(rows)

    async def _post(self, session: aiohttp.ClientSession, row: Claimed) -> None:
        body = row.payload.get("body")
        if not isinstance(body, str):
            await self.store.finish(row.id, OutboxState.FAILED, "no body", now=self.clock())
            return
        raw = body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self.secret, raw),
        }
        try:
            async with session.post(self.url, data=raw, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._later(row, f"{type(exc).__name__}: {exc}")
            return
        if 200 <= status < 300:
            await self.store.finish(row.id, OutboxState.SENT, f"HTTP {status}", now=self.clock())
            log.info("digest push %s accepted (HTTP %d)", row.key, status)
        else:
            await self._later(row, f"HTTP {status}")

    async def _later(self, row: Claimed, reason: str) -> None:
        wait: timedelta = backoff(row.attempts + 1)
        log.warning("digest push %s not accepted (%s); again in %s", row.key, reason, wait)
        await self.store.retry(row.id, self.clock() + wait, reason, parts_sent=0)
        if self.on_refused is not None:
            try:
                await self.on_refused(row, reason, self.clock())
            except Exception:
                # The retry is recorded; the alert is tried again at the next refusal.
                log.exception("could not queue the alert for digest push %s", row.key)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                tried = await self.send_due()
            except Exception:
                log.exception("digest push pass failed")
                tried = 0
            if tried:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll)
