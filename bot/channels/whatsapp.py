"""The WhatsApp channel, on Meta's Cloud API.

Inbound: Meta POSTs signed webhooks to ``/webhooks/whatsapp``. Each request is verified, every
message and status in it is stored under its own key, the request is answered 200, and only
then are the units processed, in tracked background tasks, one after another per sender.
A unit stored before a crash is replayed on the next start; a unit Meta delivers twice is
stored once. Images and documents are fetched at once, since media ids expire.

Outbound: the core's replies are rendered as text, reply buttons or list messages
(:mod:`bot.channels.whatsapp_render`) and sent through :class:`GraphClient` with retries.
Bot-initiated sends obey the 24-hour rule: outside the window an approved template goes out
instead (:mod:`bot.channels.whatsapp_templates`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.channels.whatsapp_api import (
    Backoff,
    GraphApiError,
    GraphClient,
    MediaTooLarge,
    Sleep,
    default_backoff,
)
from bot.channels.whatsapp_render import FilePart, MessagePart, media_payload, render_reply
from bot.channels.whatsapp_templates import (
    DEFAULT_TEMPLATES,
    TemplateError,
    TemplateRequest,
    TemplateSpec,
    resolve_template,
    template_payload,
    window_open,
)
from bot.channels.whatsapp_webhook import (
    SIGNATURE_HEADER,
    ParsedMessage,
    Unit,
    is_address,
    parse_message,
    parse_status,
    rejected_body,
    signature_is_valid,
    unit_from_stored,
    units_from_payload,
)
from bot.config import ConfigError, Settings
from bot.outbox.errors import NoTemplate, Permanent, RateLimited, SendError, Transient
from bot.outbox.limits import WHATSAPP_LIMITS
from bot.outbox.sender import Port
from bot.web import read_body
from handlers.messages import Attachment, Incoming, Outcome, Reply, coalesce
from storage.db import Database
from storage.identities import addresses_of, canonical_address, identity_ref, record_aliases
from storage.inbound import InboundStore
from storage.message_status import STATUS_RANK, MessageStatus, OutgoingMessage
from storage.models import utcnow

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WEBHOOK_PATH = "/webhooks/whatsapp"
# Meta's webhook bodies are a few kilobytes; anything near this is not one of them.
MAX_WEBHOOK_BYTES = 1024 * 1024
# Cloud API limits are 5 MB (images) and 100 MB (documents); SASI keeps eviden up to this.
DEFAULT_MAX_MEDIA_BYTES = 25 * 1024 * 1024
# Said on the button that opens a list, until the catalogues carry "whatsapp.list_button".
_LIST_BUTTON_FALLBACK = {"id": "Pilih", "en": "Choose"}

Clock = Callable[[], datetime]


class WhatsAppCore(Protocol):
    """What the channel needs of :class:`bot.app.Core`."""

    @property
    def database(self) -> Database: ...

    @property
    def inbound(self) -> InboundStore: ...

    async def handle(self, incoming: Incoming) -> Outcome: ...

    async def last_inbound_at(self, channel: str, external_id: str) -> datetime | None: ...

    def register_channel(self, port: Port) -> None: ...

    async def resend_unsent_replies(self, channel: str) -> int: ...

    async def leave_election(self, channel: str) -> None: ...

    async def replies_sent(self, outcome: Outcome, channel: str, chat: str) -> None: ...

    async def replies_failed(self, outcome: Outcome, sent: int, reason: str) -> None: ...

    async def replies_blocked(self, outcome: Outcome, channel: str, chat: str) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _list_button_label(locale: str) -> str:
    try:
        from handlers.i18n import Translator

        translate = Translator(locale)
        if translate.has("whatsapp.list_button"):
            return translate("whatsapp.list_button")
    except Exception:  # the catalogues may not exist yet; the fallback is fine
        log.debug("no catalogue entry for whatsapp.list_button", exc_info=True)
    return _LIST_BUTTON_FALLBACK.get(locale, _LIST_BUTTON_FALLBACK["id"])


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_file_name(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", Path(name).name).strip("._")
    return cleaned[:100] or "file"


_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


class WhatsAppChannel:
    """WhatsApp Cloud API channel: webhook in, Graph API out."""

    name = CHANNEL
    limits = WHATSAPP_LIMITS

    def __init__(
        self,
        settings: Settings,
        core: WhatsAppCore,
        *,
        templates: Mapping[str, TemplateSpec] = DEFAULT_TEMPLATES,
        clock: Clock = _utcnow,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff = default_backoff,
        max_attempts: int = 6,
        max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
    ) -> None:
        missing = [
            variable
            for variable, value in (
                ("WHATSAPP_TOKEN", settings.whatsapp_token),
                ("WHATSAPP_PHONE_NUMBER_ID", settings.whatsapp_phone_number_id),
                ("WHATSAPP_APP_SECRET", settings.whatsapp_app_secret),
                ("WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"the WhatsApp channel needs {', '.join(missing)}")
        self._settings = settings
        if settings.whatsapp_per_second != WHATSAPP_LIMITS.per_second:
            self.limits = dataclasses.replace(
                WHATSAPP_LIMITS, per_second=settings.whatsapp_per_second
            )
        self._core = core
        self._token: str = settings.whatsapp_token or ""
        self._phone_number_id: str = settings.whatsapp_phone_number_id or ""
        self._app_secret: str = settings.whatsapp_app_secret or ""
        self._verify_token: str = settings.whatsapp_verify_token or ""
        self.templates = templates
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._max_media_bytes = max_media_bytes
        self._media_dir = settings.attachments_dir / "whatsapp"
        self._list_button = _list_button_label(settings.locale)
        self._session: aiohttp.ClientSession | None = None
        self._client: GraphClient | None = None
        self._queues: dict[str, deque[Unit]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._accepting = False
        self._queued: set[str] = set()
        self._replayed: set[str] = set()  # keys this start took from the backlog
        self._aliased: set[tuple[str, str]] = set()  # (identity address, alias) recorded
        self.stop_grace = 30.0  # seconds stop() waits for work in flight

    # -- lifecycle -------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """``GET`` for Meta's verification handshake, ``POST`` for notifications."""
        app.router.add_get(WEBHOOK_PATH, self._verify)
        app.router.add_post(WEBHOOK_PATH, self._receive)

    async def start(self) -> None:
        """Open the HTTP session, offer ``send`` to the core, replay what a crash left."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._client = GraphClient(
            self._session,
            base_url=self._settings.whatsapp_api_base_url,
            phone_number_id=self._phone_number_id,
            token=self._token,
            sleep=self._sleep,
            backoff=self._backoff,
            max_attempts=self._max_attempts,
        )
        self._core.register_channel(self)
        # What a killed predecessor committed but never sent goes out before anything new.
        await self._core.resend_unsent_replies(CHANNEL)
        self._replayed = set()
        # Older updates first: live webhooks only queue once the backlog is queued, then a
        # last pass picks up whatever was stored in between.
        replayed = await self._replay()
        self._accepting = True
        replayed += await self._replay()
        if replayed:
            log.info("replaying %d stored WhatsApp update(s)", replayed)

    async def _replay(self) -> int:
        count = 0
        async for update in self._core.inbound.backlog(CHANNEL):
            # Taken once per start: one that failed in the first pass stays for the next start
            # (its attempts are counted), never queued again by the second pass.
            if update.update_key in self._queued or update.update_key in self._replayed:
                continue
            self._replayed.add(update.update_key)
            unit = unit_from_stored(update.update_key, update.payload)
            if unit.problem is not None:
                log.warning("stored WhatsApp update #%d set aside: %s", update.id, unit.problem)
                await self._reject(unit)
                continue
            self._queue(unit)
            count += 1
        return count

    async def stop(self) -> None:
        """Finish the work in flight (what is cut short is replayed on the next start).

        From here on webhooks are stored only; workers started meanwhile are waited for too.
        """
        self._accepting = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_grace
        while self._workers:
            workers = list(self._workers.values())
            _done, pending = await asyncio.wait(workers, timeout=max(0.0, deadline - loop.time()))
            if pending:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._client = None
        # Stopped, it sends nothing more: another replica takes the number's budget.
        await self._core.leave_election(CHANNEL)

    async def idle(self) -> None:
        """Wait until every stored unit has been processed (tests and orderly shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    @property
    def client(self) -> GraphClient:
        if self._client is None:
            raise RuntimeError("the WhatsApp channel is not started")
        return self._client

    # -- webhook ---------------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> web.StreamResponse:
        """Meta's subscription handshake: echo ``hub.challenge`` if the token matches."""
        mode = request.query.get("hub.mode", "")
        token = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        token_ok = _constant_time_equal(token, self._verify_token)
        if mode == "subscribe" and token_ok:
            log.info("WhatsApp webhook verified")
            return web.Response(text=challenge)
        log.warning("WhatsApp webhook verification refused (mode %r)", mode)
        return web.Response(status=403)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        """Verify, store every unit, answer 200; processing follows in the background."""
        body = await read_body(request, MAX_WEBHOOK_BYTES)
        if body is None:
            log.warning("refused a WhatsApp webhook over %d bytes", MAX_WEBHOOK_BYTES)
            return web.Response(status=413)
        if not signature_is_valid(self._app_secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("refused a WhatsApp webhook with a missing or wrong signature")
            return web.Response(status=403)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            log.warning("refused a signed WhatsApp webhook that is not JSON")
            return web.Response(status=400)
        try:
            units = units_from_payload(payload, self._phone_number_id)
        except RecursionError:
            units = [rejected_body(None, "nested too deep")]
        # A database failure here propagates as a 500, so Meta delivers the request again;
        # units stored before the failure are queued all the same.
        for unit in units:
            if unit.problem is not None:
                # Signed, so from Meta: answered 200 so it is not sent again, kept for
                # inspection, never processed.
                log.warning("set aside a signed WhatsApp webhook part: %s", unit.problem)
                await self._reject(unit)
            elif await self._core.inbound.store(CHANNEL, unit.key, unit.payload):
                self._enqueue(unit)
            elif unit.key not in self._queued and not await self._core.inbound.is_processed(
                CHANNEL, unit.key
            ):
                # Stored by an earlier delivery whose processing failed: try it again (the
                # engine's claim still guarantees it is handled once).
                log.info(
                    "WhatsApp update %s delivered again before it was processed",
                    await self._ref(unit.key),
                )
                self._enqueue(unit)
            else:
                log.info(
                    "WhatsApp update %s was delivered before; ignored", await self._ref(unit.key)
                )
        return web.Response(status=200)

    async def _ref(self, key: str) -> str:
        """How logs name an inbound update: its row id (a Meta message id encodes a number)."""
        row = await self._core.inbound.ref(CHANNEL, key)
        return f"#{row}" if row is not None else "(not stored)"

    async def _reject(self, unit: Unit) -> None:
        """Set a unit that does not fit aside, and tell its sender when there is one."""
        try:
            await self._core.inbound.set_aside(
                CHANNEL, unit.key, unit.problem or "unexpected", unit.payload
            )
        except (ValueError, TypeError, RecursionError):
            # The payload itself cannot be stored as JSON: keep the reason alone.
            await self._core.inbound.set_aside(CHANNEL, unit.key, unit.problem or "unexpected")
        if unit.reply_to is not None:
            self._tell_failed(unit.reply_to, unit.key)

    def _tell_failed(self, address: str, key: str) -> None:
        # Queued in the person's lane like a message, so it keeps their order.
        if self._client is None:
            return  # stopped: nobody to send with
        self._queue(Unit(f"{key}:failed", address, {"kind": "failed", "address": address}))

    # -- processing ------------------------------------------------------------------------

    def _enqueue(self, unit: Unit) -> None:
        if not self._accepting:
            # Stored while the channel is not running (the server starts first and stops
            # last): start() replays it.
            return
        self._queue(unit)

    def _queue(self, unit: Unit) -> None:
        if unit.key in self._queued:
            return
        self._queued.add(unit.key)
        self._queues.setdefault(unit.lane, deque()).append(unit)
        if unit.lane not in self._workers:
            self._workers[unit.lane] = asyncio.create_task(
                self._drain(unit.lane), name=f"whatsapp:{unit.lane}"
            )

    async def _drain(self, lane: str) -> None:
        # One worker per lane keeps a sender's messages in order without holding up others.
        queue = self._queues[lane]
        try:
            while queue:
                unit = queue[0]
                try:
                    await self._process(unit)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("processing WhatsApp update %s failed", await self._ref(unit.key))
                    await self._failed(unit, exc)
                finally:
                    queue.popleft()
                    self._queued.discard(unit.key)
        finally:
            del self._workers[lane]
            if not queue:
                del self._queues[lane]

    async def _failed(self, unit: Unit, exc: Exception) -> None:
        """A unit whose processing failed: tried again at the next start if the failure may
        pass (the Graph API or the database unavailable; attempts counted across starts),
        else set aside at once. The sender is told when it is set aside, so nobody waits
        for an answer that will not come."""
        if unit.payload.get("kind") == "failed":
            return  # the apology itself failed: logged, nothing more to say
        try:
            if isinstance(exc, _Permanent):
                await self._core.inbound.set_aside(CHANNEL, unit.key, exc.reason)
                aside = True
            else:
                aside = await self._core.inbound.record_failure(
                    CHANNEL, unit.key, type(exc).__name__
                )
            address = _address_of(unit)
            if aside and address is not None:
                self._tell_failed(address, unit.key)
        except Exception:
            log.exception(
                "could not record the failure of WhatsApp update %s", await self._ref(unit.key)
            )

    async def _process(self, unit: Unit) -> None:
        kind = unit.payload.get("kind")
        if kind == "status":
            await self._record_status(unit)
            return
        if kind == "failed":
            await self._answer_failed(unit)
            return
        try:
            message = parse_message(unit.payload)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise _Permanent("unexpected shape") from exc
        incoming = await self._incoming(message, unit.key)
        outcome = await self._core.handle(incoming)
        await self._remember_aliases(incoming.sender_id, message)
        if outcome.duplicate:
            log.info("WhatsApp update %s was processed before", await self._ref(unit.key))
            return
        if outcome.queued:
            return  # the replica elected to send for WhatsApp sends them
        await self._answer(message.sender, outcome)

    async def _answer(self, to: str, outcome: Outcome) -> None:
        """Send the core's replies right after its commit (the person just wrote: the window
        is open); the outbox holds them meanwhile, so what does not go out now is retried."""
        try:
            await self._deliver_free_form(to, outcome.replies)
        except SendError as exc:
            await self._core.replies_failed(outcome, exc.sent, exc.reason)
        else:
            await self._core.replies_sent(outcome, CHANNEL, to)

    async def _answer_failed(self, unit: Unit) -> None:
        address = str(unit.payload["address"])
        sender_id = await canonical_address(self._core.database, CHANNEL, [address])
        outcome = await self._core.handle(
            Incoming(channel=CHANNEL, sender_id=sender_id, failed=True, update_key=unit.key)
        )
        if not outcome.duplicate and not outcome.queued:
            await self._send_replies(address, outcome.replies)

    async def _incoming(self, message: ParsedMessage, key: str) -> Incoming:
        """The core's view of a message; ``key`` is what it was stored under (claimed once)."""
        attachments: tuple[Attachment, ...] = ()
        too_large = False
        if message.media is not None:
            try:
                attachments = (await self._fetch_media(message),)
            except MediaTooLarge:
                too_large = True
            except GraphApiError as exc:
                if not exc.retryable:
                    # The media is gone or refused (a 404): asking again will not bring it.
                    raise _Permanent(f"media not fetched (HTTP {exc.status})") from exc
                raise
        addresses = addresses_of(message.phone, message.bsuid)
        sender_id = await canonical_address(self._core.database, CHANNEL, addresses)
        return Incoming(
            channel=CHANNEL,
            sender_id=sender_id,
            text=message.text,
            choice=message.choice,
            attachments=attachments,
            unsupported=message.unsupported,
            sender_name=message.sender_name,
            update_key=key,
            too_large=too_large,
        )

    async def _remember_aliases(self, sender_id: str, message: ParsedMessage) -> None:
        """A message naming both ids: each names this person from now on (the identity
        exists once the core has handled a message from it)."""
        others = [
            a
            for a in addresses_of(message.phone, message.bsuid)
            if a != sender_id and (sender_id, a) not in self._aliased
        ]
        if not others:
            return
        await record_aliases(self._core.database, CHANNEL, sender_id, others)
        self._aliased.update((sender_id, a) for a in others)

    async def _fetch_media(self, message: ParsedMessage) -> Attachment:
        media = message.media
        assert media is not None
        info = await self.client.media_info(media.media_id)
        if info.file_size is not None and info.file_size > self._max_media_bytes:
            log.info("WhatsApp media %s is %d bytes; not kept", media.media_id, info.file_size)
            raise MediaTooLarge(media.media_id)
        mime_type = media.mime_type or info.mime_type
        file_name = media.file_name or (
            f"{media.kind}-{_safe_file_name(media.media_id)}"
            f"{_EXTENSIONS.get((mime_type or '').split(';')[0], '')}"
        )
        self._media_dir.mkdir(parents=True, exist_ok=True)
        # The message id makes the name unique; the user's file name keeps it recognisable.
        destination = self._media_dir / (
            f"{_safe_file_name(message.message_id)[-40:]}-{_safe_file_name(file_name)}"
        )
        size = await self.client.download(info.url, destination, self._max_media_bytes)
        return Attachment(
            kind="photo" if media.kind == "image" else "document",
            path=destination,
            file_name=file_name,
            mime_type=mime_type,
            size=size,
        )

    async def _record_status(self, unit: Unit) -> None:
        try:
            event = parse_status(unit.payload)
        except ValueError as exc:
            raise _Permanent("unexpected shape") from exc
        async with (
            self._core.database.writing(),
            self._core.database.sessions() as session,
            session.begin(),
        ):
            existing = await session.scalar(
                select(MessageStatus).where(
                    MessageStatus.wamid == event.message_id, MessageStatus.status == event.status
                )
            )
            if existing is None:
                session.add(
                    MessageStatus(
                        wamid=event.message_id,
                        recipient=event.recipient,
                        status=event.status,
                        error_code=event.error_code,
                        error_title=(event.error_title or None) and event.error_title[:200],
                        error_details=event.error_details,
                        status_at=event.timestamp,
                    )
                )
            sent = await session.scalar(
                select(OutgoingMessage).where(OutgoingMessage.wamid == event.message_id)
            )
            if sent is not None and STATUS_RANK.get(event.status, 0) >= STATUS_RANK.get(
                sent.last_status or "", 0
            ):
                sent.last_status = event.status
                sent.last_status_at = event.timestamp or utcnow()
            sent_ref = sent.id if sent is not None else None
        if event.status == "failed":
            # Named by SASI's own row ids: the message id and recipient identify a person.
            log.error(
                "WhatsApp message (outgoing #%s, status update %s) failed: %s %s %s",
                sent_ref,
                await self._ref(unit.key),
                event.error_code,
                event.error_title,
                event.error_details or "",
            )
        await self._core.inbound.mark_processed(CHANNEL, unit.key)

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self,
        external_id: str,
        replies: Sequence[Reply],
        *,
        template: TemplateRequest | None = None,
    ) -> None:
        """Bot-initiated send: free-form inside the 24-hour window, else the template.

        With the window closed and no usable template, :class:`TemplateError` is raised to
        the caller, so whoever asked for the send learns that nothing went out.
        """
        try:
            await self.deliver(external_id, replies, template=template)
        except NoTemplate as exc:
            who = await self._who(external_id)
            log.error("WhatsApp message to identity %s not sent: %s", who, exc.reason)
            raise TemplateError(exc.reason) from exc
        except SendError as exc:
            cause = exc.__cause__
            raise cause if isinstance(cause, Exception) else exc from None

    async def deliver(
        self, recipient: str, replies: Sequence[Reply], *, template: TemplateRequest | None
    ) -> None:
        """The outbox's send: free-form inside the 24-hour window, else the template; what
        fails is raised as :mod:`bot.outbox.errors`."""
        last_inbound = await self._core.last_inbound_at(CHANNEL, recipient)
        if window_open(last_inbound, self._clock()):
            await self._deliver_free_form(recipient, replies)
            return
        try:
            spec = resolve_template(self.templates, template)
        except TemplateError as exc:
            raise NoTemplate(str(exc)) from exc
        assert template is not None
        payload = template_payload(recipient, spec, template.parameters)
        try:
            wamid = await self.client.send_message(payload)
        except (GraphApiError, aiohttp.ClientError, TimeoutError) as exc:
            raise _send_error(exc, 0) from exc
        await self._record_outgoing(wamid, recipient, "template", spec.name)

    async def _deliver_free_form(self, to: str, replies: Sequence[Reply]) -> None:
        sent = 0
        try:
            for reply in coalesce(replies):
                await self._send_reply(to, reply)
                sent += 1
        except (GraphApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _send_error(exc, sent) from exc

    async def _send_replies(self, to: str, replies: Sequence[Reply]) -> None:
        """Send replies to a person who wrote within the window, in order.

        Plain replies are joined to the one that follows (one notification, one paid message).
        """
        for reply in coalesce(replies):
            await self._send_reply(to, reply)

    async def _send_reply(self, to: str, reply: Reply) -> None:
        for part in render_reply(to, reply, self._list_button):
            if isinstance(part, MessagePart):
                payload = part.payload
            else:
                payload = await self._upload(part)
            wamid = await self.client.send_message(payload)
            await self._record_outgoing(wamid, to, str(payload["type"]), None)

    async def _upload(self, part: FilePart) -> dict[str, Any]:
        media_id = await self.client.upload_media(
            part.file.path, part.mime_type, part.file.file_name
        )
        return media_payload(part, media_id)

    async def _record_outgoing(
        self, wamid: str, recipient: str, kind: str, template_name: str | None
    ) -> None:
        try:
            async with (
                self._core.database.writing(),
                self._core.database.sessions() as session,
                session.begin(),
            ):
                sent = OutgoingMessage(
                    wamid=wamid, recipient=recipient, kind=kind, template_name=template_name
                )
                # A status webhook can overtake this insert; pick up what it already said.
                for status in await session.scalars(
                    select(MessageStatus).where(MessageStatus.wamid == wamid)
                ):
                    if STATUS_RANK.get(status.status, 0) >= STATUS_RANK.get(
                        sent.last_status or "", 0
                    ):
                        sent.last_status = status.status
                        sent.last_status_at = status.status_at or status.received_at
                session.add(sent)
        except IntegrityError:
            log.warning("an outgoing WhatsApp message was recorded before")

    async def _who(self, external_id: str) -> str:
        """How logs name a person: SASI's identity id, never their number or BSUID."""
        return await identity_ref(self._core.database, CHANNEL, external_id)


class _Permanent(Exception):
    """A failure that another attempt cannot mend (a malformed unit, media gone)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _address_of(unit: Unit) -> str | None:
    """Whom to tell that a unit failed: the sender of a message, nobody for a status."""
    if unit.payload.get("kind") != "message":
        return None
    message = unit.payload.get("message")
    if not isinstance(message, Mapping):
        return None
    for field_name in ("from", "from_user_id"):
        address = message.get(field_name)
        if is_address(address):
            return str(address)
    return None


# Meta's throughput and pair-rate limits: wait and send again.
_RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})


def _send_error(exc: BaseException, sent: int) -> SendError:
    """A Graph API failure in the outbox's terms."""
    reason = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, GraphApiError):
        if exc.status == 429 or exc.code in _RATE_LIMIT_CODES:
            return RateLimited(6.0, sent=sent)
        if exc.retryable:
            return Transient(reason, sent=sent)
        return Permanent(reason, sent=sent)
    return Transient(reason, sent=sent)


def _constant_time_equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


__all__ = [
    "CHANNEL",
    "WEBHOOK_PATH",
    "GraphApiError",
    "TemplateError",
    "TemplateRequest",
    "WhatsAppChannel",
]
