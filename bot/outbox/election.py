"""Which replica sends through a channel: one per bot token / WhatsApp number.

A channel's rate limits belong to its token (Telegram: 30 messages a second overall, one a
second per chat) or its number (WhatsApp: 80 a second), however many processes use it. So
one replica, elected through an advisory lock (:mod:`storage.leader`), sends everything
that goes out through the outbox sender, and only its rate limiter counts. The others
commit their replies to the outbox unclaimed and ``NOTIFY`` the sender, which sends them at
once; the elected replica sends its own replies straight after their commit, as a single
process does, and counts them. Its successor takes over within a few seconds of its death.

On SQLite there is one process, and it is always the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from sqlalchemy import text

from storage.db import Database
from storage.leader import Elector, token_hash
from storage.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


class SenderElection:
    """One :class:`Elector` per channel that registered; ``wake`` is the sender's."""

    def __init__(
        self,
        database: Database,
        url: str,
        *,
        wake: Callable[[Iterable[str]], None],
        on_lead: Callable[[str], None] | None = None,
        retry_seconds: float | None = None,
    ) -> None:
        self._db = database
        self._url = url
        self.wake = wake
        self.on_lead = on_lead
        self._retry = retry_seconds
        self.electors: dict[str, Elector] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def join(self, channel: str, secret: str | None) -> Elector:
        """Take part in the election for ``channel``: a first try now (a lone replica sends
        from its first message), then the elector keeps trying in the background. Named by
        the channel's token, so two deployments with different bots on one database do not
        share a sender."""
        elector = self.electors.get(channel)
        if elector is not None:
            return elector
        name = f"sender:{channel}:{token_hash(secret or channel)}"
        elector = Elector(
            self._url,
            name,
            listen=[(NOTIFY_CHANNEL, self._notified)],
            on_change=lambda leading: self._changed(channel, leading),
            **({} if self._retry is None else {"retry_seconds": self._retry}),
        )
        self.electors[channel] = elector
        self._stop.clear()
        await elector.step()
        self._tasks.append(asyncio.create_task(elector.run(self._stop), name=f"elector-{name}"))
        return elector

    async def leave(self, channel: str) -> None:
        """Stop taking part for ``channel`` (its channel stopped in this process)."""
        elector = self.electors.pop(channel, None)
        if elector is not None:
            await elector.close()

    def is_sender(self, channel: str) -> bool:
        elector = self.electors.get(channel)
        return elector is None or elector.is_leader

    async def stop(self) -> None:
        """Give every lock up: the other replicas take over at their next try."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for elector in self.electors.values():
            await elector.close()
        self.electors.clear()

    async def notify(self, channels: Iterable[str]) -> None:
        """Wake the elected sender of these channels (when it is another replica)."""
        if self._db.is_sqlite:
            return
        wanted = [c for c in sorted(set(channels)) if not self.is_sender(c)]
        if not wanted:
            return
        try:
            async with self._db.engine.connect() as conn:
                for channel in wanted:
                    await conn.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL, "payload": channel})
                await conn.commit()
        except Exception:
            # Not lost: the sender looks at the table every second anyway.
            log.exception("could not notify the outbox sender")

    def _notified(self, payload: str) -> None:
        if self.is_sender(payload):
            self.wake([payload])

    def _changed(self, channel: str, leading: bool) -> None:
        if leading:
            log.info("this replica now sends for %s", channel)
            self.wake([channel])
            if self.on_lead is not None:
                with contextlib.suppress(Exception):
                    self.on_lead(channel)
