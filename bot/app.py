"""The core services, built once: database, engine, similarity index, channels' shared parts.

``bot/__main__.py`` opens a :class:`Core` and hands it to each channel; tests do the same.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.config import Settings
from bot.similarity_loader import build_similarity_index
from handlers.engine import Clock, Engine, system_clock
from handlers.i18n import Translator
from handlers.messages import Delivery, Incoming, Outcome, Reply, TemplateCall
from handlers.ports import SimilarityService
from storage.db import Database
from storage.inbound import InboundStore
from storage.migrate import upgrade_to_head_async
from storage.models import utcnow
from storage.queries import identity_of

log = logging.getLogger(__name__)


class Sender(Protocol):
    """A channel's bot-initiated send (``Channel.send``)."""

    def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> Awaitable[None]: ...


@dataclass
class Core:
    """What every channel needs from SASI's core."""

    settings: Settings
    database: Database
    engine: Engine
    inbound: InboundStore
    similarity: SimilarityService
    senders: dict[str, Sender] = field(default_factory=dict)

    async def handle(self, incoming: Incoming) -> Outcome:
        """Run one incoming message through the engine and route replies meant for others.

        The sender's own replies come back in the outcome for the calling channel to render;
        deliveries to other identities go out through the channel that owns them.
        """
        outcome = await self.engine.handle(incoming)
        for delivery in outcome.deliveries:
            if not await self.deliver(delivery):
                # Never a silent drop: whoever caused the message learns it did not go out.
                t = Translator(self.settings.locale)
                channel = t(f"channel.{delivery.channel}")
                outcome.replies.append(Reply(t("delivery.failed", channel=channel)))
        return outcome

    async def deliver(self, delivery: Delivery) -> bool:
        """Send a message meant for someone else; False (and logged) when it did not go out."""
        sender = self.senders.get(delivery.channel)
        if sender is None:
            log.error(
                "no running channel %r to deliver to %s", delivery.channel, delivery.external_id
            )
            return False
        try:
            await sender(delivery.external_id, delivery.replies, template=delivery.template)
        except Exception:
            log.exception("delivery to %s:%s failed", delivery.channel, delivery.external_id)
            return False
        return True

    def register_sender(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender

    async def mark_blocked(self, channel: str, external_id: str) -> None:
        """Record that a person blocked the bot on a channel (so nothing more is sent there)."""
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            identity = await identity_of(session, channel, external_id)
            if identity is not None:
                identity.blocked_at = utcnow()

    async def last_inbound_at(self, channel: str, external_id: str) -> datetime | None:
        """When this identity last wrote to us (WhatsApp's 24-hour window starts there)."""
        async with self.database.sessions() as session:
            identity = await identity_of(session, channel, external_id)
            return identity.last_inbound_at if identity is not None else None


@asynccontextmanager
async def open_core(
    settings: Settings,
    *,
    migrate: bool = True,
    clock: Clock = system_clock,
    similarity: SimilarityService | None = None,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[Core]:
    """Open the database (migrating it to head), rebuild the similarity index, build the engine."""
    if migrate:
        await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        if similarity is None:
            similarity = await build_similarity_index(database, settings.stem_cache)
        engine = Engine(
            database=database,
            similarity=similarity,
            default_locale=settings.locale,
            timezone=settings.tz,
            clock=clock,
        )
        yield Core(
            settings=settings,
            database=database,
            engine=engine,
            inbound=InboundStore(database),
            similarity=similarity,
        )
    finally:
        await database.dispose()
