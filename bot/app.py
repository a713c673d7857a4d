"""The core services, built once: database, engine, similarity index, channels' shared parts.

``bot/__main__.py`` opens a :class:`Core` and hands it to each channel; tests do the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.broadcasts.progress import BroadcastProgress
from bot.config import Settings
from bot.outbox.election import SenderElection
from bot.outbox.errors import SendError, Transient
from bot.outbox.limits import MARGIN, UNLIMITED, ChannelLimits
from bot.outbox.sender import OutboxSender, Port
from bot.push.alert import StuckPushAlert
from bot.push.sender import PushSender
from bot.scheduler.loop import Scheduler
from bot.similarity_loader import build_similarity_index
from handlers.engine import Clock, Engine, system_clock
from handlers.i18n import Translator
from handlers.messages import Incoming, Outcome, Reply, TemplateCall, coalesce
from handlers.ports import SimilarityService
from storage.conversation_state import touch_states
from storage.db import Database
from storage.inbound import InboundStore
from storage.migrate import upgrade_to_head_async
from storage.models import utcnow
from storage.outbox import OutboxState, OutboxStore
from storage.queries import identity_of

log = logging.getLogger(__name__)


class Sender(Protocol):
    """A bot-initiated send as a plain function (tests and stand-ins register these)."""

    def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> Awaitable[None]: ...


@dataclass
class FunctionPort:
    """A :class:`Sender` function as an outbox port: any exception is a transient failure."""

    name: str
    send: Sender
    limits: ChannelLimits = UNLIMITED

    async def deliver(
        self, recipient: str, replies: Sequence[Reply], *, template: TemplateCall | None
    ) -> None:
        try:
            await self.send(recipient, replies, template=template)
        except SendError:
            raise
        except Exception as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc


# Messages for others that the person who caused them is waiting for (a one-time code):
# sent at once after the commit, and the person told when they did not go out.
URGENT_KINDS = ("link_code",)
REPLY_RETRY = timedelta(seconds=5)
# Replies sent are marked in one write per this interval, not one per message: a busy bot
# would otherwise spend a transaction on every reply. Killed before such a write, the
# replies are sent again at the next start (at worst twice, never lost).
SENT_MARK_DELAY = 0.05
# A one-time code committed on a replica that does not send: how long to wait for the
# elected sender (woken by NOTIFY) to send it before telling the person it did not go out.
URGENT_WAIT = 5.0
URGENT_POLL = 0.05
SERVICE_RUNNING = datetime(1970, 1, 1, tzinfo=UTC)  # "started" before any saved state


@dataclass
class Core:
    """What every channel needs from SASI's core."""

    settings: Settings
    database: Database
    engine: Engine
    inbound: InboundStore
    similarity: SimilarityService
    outbox: OutboxStore
    sender: OutboxSender
    scheduler: Scheduler
    broadcasts: BroadcastProgress
    push: PushSender | None = None  # the digest's signed push, when SASI_BAPPEDA_PUSH_URL is set
    election: SenderElection | None = None
    _sent: list[int] = field(default_factory=list)
    _background: set[asyncio.Task[object]] = field(default_factory=set)
    _marking: asyncio.Task[None] | None = None

    async def handle(self, incoming: Incoming) -> Outcome:
        """Run one incoming message through the engine.

        The sender's own replies come back in the outcome for the calling channel to render
        (then :meth:`replies_sent`); messages for others were committed to the outbox with the
        step, and a one-time code is sent at once.
        """
        outcome = await self.engine.handle(incoming)
        if self.election is not None and outcome.deliveries:
            # Another replica sends for these channels: wake it. (Queued replies woke it
            # with the step's own commit.)
            await self.election.notify([d.channel for d in outcome.deliveries])
        if outcome.deliveries:
            await self._send_urgent(outcome)
        return outcome

    def is_sender(self, channel: str) -> bool:
        return self.election is None or self.election.is_sender(channel)

    def updates_broadcasts_of(self, channel: str) -> bool:
        """Whether this replica keeps the progress of broadcasts followed on ``channel``:
        the one elected to send through it (alone, a process that has the channel)."""
        if self.election is None:
            return True
        return channel in self.sender.ports and self.election.is_sender(channel)

    async def _send_urgent(self, outcome: Outcome) -> None:
        channels = sorted({d.channel for d in outcome.deliveries})
        for channel in channels:
            await self.sender.send_due(channel, kinds=URGENT_KINDS)
        failed = []
        for channel in channels:
            waited = 0.0
            while not await self.outbox.all_sent(channel, URGENT_KINDS, outcome.delivery_keys):
                if self.is_sender(channel) or waited >= URGENT_WAIT:
                    failed.append(channel)
                    break
                # The elected sender on another replica was woken; it sends at once.
                await asyncio.sleep(URGENT_POLL)
                waited += URGENT_POLL
        self.sender.wake(channels)
        for channel in failed:
            # Never a silent drop: whoever caused the message learns it did not go out.
            t = Translator(self.settings.locale)
            outcome.replies.append(Reply(t("delivery.failed", channel=t(f"channel.{channel}"))))

    async def replies_sent(self, outcome: Outcome, channel: str, chat: str) -> None:
        """The channel sent ``outcome.replies`` to ``chat``: the outbox row is done."""
        if outcome.queued:
            return  # another replica's sender has them
        self.sender.limiter(channel).note(chat, max(1, len(coalesce(outcome.replies))))
        if outcome.reply_id is not None:
            self._sent.append(outcome.reply_id)
            if self._marking is None:
                self._marking = asyncio.create_task(self._mark_sent_soon())

    async def _mark_sent_soon(self) -> None:
        await asyncio.sleep(SENT_MARK_DELAY)
        await self.flush_sent()

    async def flush_sent(self) -> None:
        """Record the replies sent so far (also at a stop, so a clean stop resends none)."""
        ids, self._sent, self._marking = self._sent, [], None
        if not ids:
            return
        try:
            await self.outbox.mark_sent(ids)
        except Exception:
            # Not lost: the next start sends them again.
            log.exception("could not mark %d replies sent", len(ids))

    async def replies_failed(self, outcome: Outcome, sent: int, reason: str) -> None:
        """The channel could not send them all: the outbox sender tries the rest again."""
        if outcome.reply_id is not None:
            await self.outbox.retry(
                outcome.reply_id, utcnow() + REPLY_RETRY, reason, parts_sent=sent
            )
            log.warning("reply %s not sent (%s); the outbox retries it", outcome.reply_id, reason)

    async def replies_blocked(self, outcome: Outcome, channel: str, chat: str) -> None:
        """The person blocked the bot: recorded, and their reply is not tried again."""
        await self.mark_blocked(channel, chat)
        if outcome.reply_id is not None:
            await self.outbox.finish(outcome.reply_id, OutboxState.BLOCKED, "blocked the bot")

    def register_channel(self, port: Port) -> None:
        """A channel offers its sending side to the outbox."""
        self.sender.register(port)

    async def leave_election(self, channel: str) -> None:
        """A channel stopped here: give its sending lock to another replica."""
        if self.election is not None:
            await self.election.leave(channel)

    def _channel_secret(self, channel: str) -> str | None:
        """What names a channel's sending budget: the bot token, the WhatsApp number."""
        if channel == "telegram":
            return self.settings.telegram_bot_token
        if channel == "whatsapp":
            return self.settings.whatsapp_phone_number_id
        return None

    def _took_over(self, channel: str) -> None:
        """Elected sender: the claims of a dead predecessor on this host, and the channel's
        claims of whichever replica sent before (on any host), go out now, not at their
        lease's end (60 s), once the predecessor's last second has passed."""
        # This limiter never saw what the predecessor sent in its last second (a killed
        # sender is succeeded within a fraction of a second when another replica's try
        # falls just then): sending at once could add to that second and draw a 429.
        # Telegram's windows are a second long, overall and per chat.
        self.sender.limiter(channel).pause(1.0 + MARGIN)

        async def release() -> None:
            await self.outbox.release_dead_claims()
            released = await self.outbox.release_predecessors(channel)
            if released:
                log.info("took over %d outbox claims of the previous %s sender", released, channel)
            self.sender.wake([channel])

        task = asyncio.get_running_loop().create_task(release())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def release(self) -> None:
        """A graceful stop: hand what this replica holds back to the others."""
        if self._marking is not None:
            self._marking.cancel()
            self._marking = None
        await self.flush_sent()
        await self.sender.flush_marks()
        try:
            released = await self.outbox.release_mine()
            if released:
                log.info("handed %d outbox claims back", released)
        except Exception:
            log.exception("could not hand the outbox claims back; their leases expire")
        if self.election is not None:
            await self.election.stop()

    def register_sender(self, channel: str, sender: Sender) -> None:
        self.sender.register(FunctionPort(channel, sender))

    async def resend_unsent_replies(self, channel: str) -> int:
        """At a start, before new messages: the replies a killed predecessor committed but
        never sent (or never marked sent) go out first, so nobody answers an unseen question.

        With several replicas, this is also where the replica joins the election for the
        channel's sender: only the elected one sends them (see bot/outbox/election.py)."""
        if self.election is not None:
            await self.election.join(channel, self._channel_secret(channel))
            if not self.is_sender(channel):
                # Another replica holds the channel: the service went on while this process
                # restarted, and the questions it asked are on screen. Only a break (the
                # engine's RESUME_AFTER) shows a question again before taking an answer.
                self.engine.started_at = SERVICE_RUNNING
        await self.outbox.release_dead_claims()
        total = 0
        while sent := await self.sender.send_due(channel, kinds=("reply",)):
            total += sent
        await self.sender.flush_marks()
        if total:
            # The pending questions were shown again just now: an answer to them is an answer,
            # not a message from someone who no longer sees the question (see the engine).
            people = await self.outbox.resent_to(channel, ("reply",))
            await touch_states(self.database, people, self.engine.clock())
        return total

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
        outbox = OutboxStore(database)
        election: SenderElection | None = None
        if not database.is_sqlite:
            election = SenderElection(database, settings.database_url, wake=lambda _c: None)
        engine = Engine(
            database=database,
            similarity=similarity,
            default_locale=settings.locale,
            timezone=settings.tz,
            clock=clock,
            outbox_worker=outbox.worker,
            claims_replies=election.is_sender if election is not None else None,
        )
        scheduler = Scheduler(database, settings, outbox, clock)
        core = Core(
            settings=settings,
            database=database,
            engine=engine,
            inbound=InboundStore(database),
            similarity=similarity,
            outbox=outbox,
            sender=OutboxSender(
                outbox,
                clock=clock,
                open_hours=scheduler.working_time,
                compose=scheduler.compose,
                may_send=election.is_sender if election is not None else None,
            ),
            scheduler=scheduler,
            broadcasts=BroadcastProgress(database, clock=clock),
            election=election,
        )
        core.broadcasts.wake = core.sender.wake
        core.broadcasts.may_update = core.updates_broadcasts_of
        core.sender.on_idle = core.broadcasts.poke
        core.sender.on_blocked = core.mark_blocked
        if settings.bappeda_push_url and settings.bappeda_push_secret:
            core.push = PushSender(
                outbox,
                settings.bappeda_push_url,
                settings.bappeda_push_secret,
                clock=clock,
                on_refused=StuckPushAlert(database, settings),
            )
        if election is not None:
            election.wake = core.sender.wake
            election.on_lead = core._took_over
        try:
            yield core
        finally:
            await core.release()
    finally:
        await database.dispose()
