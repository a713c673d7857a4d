"""The Telegram channel: python-telegram-bot's ``Application`` at the edge of SASI's core.

Updates come by long polling (default) or by webhook (``TELEGRAM_WEBHOOK_URL``) on the shared
aiohttp server. Either way each update is stored in the inbound table before it is processed,
so a redelivery is dropped and a stored update cut short by a crash is replayed at the next
start. A webhook update is stored before Telegram gets its 200. Polled updates are stored a
batch at a time, as python-telegram-bot hands them over, and the next ``getUpdates`` (whose
offset confirms the batch to Telegram) waits until they are: either way Telegram forgets an
update only once it is stored. Updates of one person are processed strictly in order;
different people in parallel.

The channel holds no conversation logic: everything a person reads comes from the core's
replies. It only reports facts the core cannot see (an unsupported message type, a file past
the download limit) through :class:`~handlers.messages.Incoming`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from aiohttp import web

# Opt in to PTB's timedelta time periods now: otherwise every RetryAfter it builds emits a
# deprecation warning (an error under our warnings-as-errors test settings).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatMemberStatus
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ApplicationBuilder, CallbackContext, TypeHandler

from bot.channels.telegram_http import AiohttpRequest, UpdatesRequest
from bot.channels.telegram_render import (
    MAX_CAPTION,
    command_target,
    keyboard,
    safe_file_name,
    split_text,
    utf16_len,
)
from bot.outbox.errors import Blocked, Permanent, RateLimited, SendError, Transient
from bot.outbox.limits import TELEGRAM_LIMITS
from bot.web import read_body
from handlers.messages import (
    Attachment,
    AttachmentKind,
    ChatKind,
    Incoming,
    Outcome,
    Reply,
    TemplateCall,
    coalesce,
)

if TYPE_CHECKING:
    from bot.app import Core
    from bot.config import Settings

log = logging.getLogger(__name__)
# python-telegram-bot logs every update and API call whole at DEBUG: names, messages, user
# ids (personal data, UU 27/2022). Its loggers stay at INFO, whatever the root level.
if logging.getLogger("telegram").level < logging.INFO:
    logging.getLogger("telegram").setLevel(logging.INFO)

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the cloud Bot API refuses getFile above 20 MB
# An update is a few kilobytes (a message is at most 4,096 characters plus its entities).
MAX_WEBHOOK_BYTES = 1024 * 1024
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
MAX_RETRIES = 5
TYPING_AFTER = 1.0  # seconds of processing before the person sees "typing…"
# Waits between attempts to store a polled batch while the database refuses it.
STORE_RETRY_FIRST = 0.5
STORE_RETRY_MAX = 30.0
# How long a stop waits for a polled batch that is still being stored.
STOP_GRACE = 10.0
POLL_CONFLICT_MESSAGE = (
    "another process is polling Telegram with this bot token (409 Conflict): polling is a "
    "single-process mode. Stop the other poller, or run every replica in webhook mode "
    "(TELEGRAM_WEBHOOK_URL)."
)

# Message kinds the core cannot use; the first one present names the message for the core.
_UNSUPPORTED_KINDS = (
    "sticker", "animation", "voice", "audio", "video_note", "location", "venue",
    "contact", "poll", "dice", "game", "story", "invoice",
)  # fmt: skip

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class TelegramChannel:
    """SASI on Telegram, through python-telegram-bot v22.

    ``sleep`` is how 429 ``retry_after`` waits are made; tests pass a recorder.
    ``max_concurrency`` bounds how many people are served at once (SQLite writes serialise).
    """

    name = CHANNEL
    limits = TELEGRAM_LIMITS

    def __init__(
        self,
        settings: Settings,
        core: Core,
        *,
        sleep: Sleep = asyncio.sleep,
        max_concurrency: int = 8,
        poll_timeout: float = 10.0,
    ) -> None:
        if not settings.telegram_bot_token:
            raise ValueError("the Telegram channel needs TELEGRAM_BOT_TOKEN")
        self.settings = settings
        self.core = core
        if settings.telegram_per_second != TELEGRAM_LIMITS.per_second:
            self.limits = dataclasses.replace(
                TELEGRAM_LIMITS, per_second=settings.telegram_per_second
            )
        self._sleep = sleep
        self._poll_timeout = poll_timeout
        self._webhook_path = _webhook_path(settings.telegram_webhook_url)
        self._work = _PerKeyQueue(self._process, max_concurrency)
        self._stopping = asyncio.Event()
        self._accepting = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.poll_conflicts = 0  # 409s: another process polls with this token
        self._fresh()

    def _fresh(self) -> None:
        """The receiving side as a new process has it (also for a start after a stop)."""
        self._prestored: set[int] = set()  # stored by the webhook route or found by replay
        # Polled updates being stored, each mapped to the task storing its batch.
        self._storing: dict[int, asyncio.Task[set[int]]] = {}
        self._unsaved: list[tuple[Update, dict[str, Any] | None]] = []  # with the JSON received
        self._saving: asyncio.Task[set[int]] | None = None
        self._unconfirmed: list[asyncio.Task[set[int]]] = []  # batches the next poll confirms
        self._polls = UpdatesRequest()
        self._polls.before_poll = self._stored_before_confirming
        # A new Updater, too: PTB's keeps the offset it reached, which may be past updates
        # that were never stored; a new one starts from whatever Telegram still holds.
        self.application: TelegramApp = self._build_application()
        self._started_before = False

    # ------------------------------------------------------------------ lifecycle

    def _build_application(self) -> TelegramApp:
        token = self.settings.telegram_bot_token
        assert token is not None
        builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .job_queue(None)
            .request(AiohttpRequest())
            .get_updates_request(self._polls)
        )
        base = self.settings.telegram_api_base_url
        if base:
            base = base.rstrip("/")
            builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
        if self._webhook_path is not None:
            # The shared aiohttp server receives updates; PTB's own webhook server stays off.
            builder = builder.updater(None)
        application: TelegramApp = builder.build()
        application.add_handler(TypeHandler(Update, self._on_update))
        application.add_error_handler(self._on_error)
        return application

    @property
    def bot_username(self) -> str | None:
        """The bot's @username, known once the application is initialised (``getMe``)."""
        try:
            return str(self.application.bot.username)
        except RuntimeError:
            return None

    def add_routes(self, app: web.Application) -> None:
        """Serve the webhook at the path of ``TELEGRAM_WEBHOOK_URL`` (nothing when polling)."""
        if self._webhook_path is not None:
            app.router.add_post(self._webhook_path, self._webhook)

    async def start(self) -> None:
        """Initialise the bot, set the command menus, replay stored updates, start receiving."""
        if self._started_before:
            self._fresh()
        self._started_before = True
        application = self.application
        self._stopping.clear()
        await application.initialize()
        await self._set_commands()
        await application.start()
        self.core.register_channel(self)
        # What a killed predecessor committed but never sent goes out before anything new.
        await self.core.resend_unsent_replies(CHANNEL)
        # Older updates first: the backlog is queued before live updates are, and a last pass
        # picks up whatever the webhook stored in between.
        await self._replay()
        self._accepting = True
        await self._replay()
        if self._webhook_path is not None:
            await self._call(
                lambda: application.bot.set_webhook(
                    url=str(self.settings.telegram_webhook_url),
                    secret_token=self.settings.telegram_webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            )
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                timeout=timedelta(seconds=self._poll_timeout),
                allowed_updates=list(ALLOWED_UPDATES),
                error_callback=self._poll_failed,
            )
        log.info("Telegram channel started (%s)", "webhook" if self._webhook_path else "polling")

    def _poll_failed(self, exc: TelegramError) -> None:
        """PTB's polling error hook (it retries by itself). A 409 Conflict means another
        process polls with this token: polling is a single-process mode."""
        if isinstance(exc, Conflict):
            self.poll_conflicts += 1
            if self.poll_conflicts == 1 or self.poll_conflicts % 100 == 0:
                log.error(POLL_CONFLICT_MESSAGE)
                print(f"SASI: {POLL_CONFLICT_MESSAGE}", file=sys.stderr, flush=True)
            return
        log.error("Telegram polling failed (%s); retrying", exc)

    async def stop(self) -> None:
        """Stop receiving, finish every update already taken, then close the bot's sessions.

        The webhook stays registered: Telegram keeps updates until the server is back, and
        the route keeps storing them meanwhile for the next start to replay.
        """
        application = self.application
        self._stopping.set()  # a batch that cannot be stored now stays unconfirmed
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        # A store still hanging after the grace is abandoned: its batch was not confirmed, so
        # Telegram sends it again to the next start.
        hanging = {t for t in (*self._unconfirmed, *self._storing.values()) if not t.done()}
        if hanging:
            _done, pending = await asyncio.wait(hanging, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
        self._accepting = False
        if application.running:
            await application.stop()  # hands what PTB already queued to our workers
        await self.idle()
        # Stores started for updates no worker reached: let them land (replayed next start).
        await asyncio.gather(*self._storing.values(), return_exceptions=True)
        self._storing.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await application.shutdown()
        # Stopped, it sends nothing more: another replica takes the token's budget.
        await self.core.leave_election(CHANNEL)

    async def idle(self) -> None:
        """Wait until every update taken so far is processed and its replies are sent."""
        await self._work.join()

    async def _set_commands(self) -> None:
        # The core owns the command table and its descriptions; Telegram shows them as a menu.
        from bot.config import SUPPORTED_LOCALES
        from handlers.commands import command_menu

        default = self.settings.locale
        bot = self.application.bot
        for locale in (default, *[code for code in SUPPORTED_LOCALES if code != default]):
            menu = [BotCommand(name, text) for name, text in command_menu(locale)]
            if not menu:
                continue
            language = None if locale == default else locale
            try:
                await self._call(partial(bot.set_my_commands, menu, language_code=language))
            except TelegramError:
                # The menu is a convenience: typed commands work without it.
                log.exception("could not set the Telegram command menu for %s", locale)

    async def _replay(self) -> None:
        """Process updates that were stored (acknowledged) but not processed before a stop."""
        async for stored in self.core.inbound.backlog(CHANNEL):
            if stored.payload is None:
                await self.core.inbound.mark_processed(CHANNEL, stored.update_key)
                continue
            update = self._read_update(stored.payload, stored.id)
            if update is None:
                # Never processable, and never again in the way of a start or a replay.
                await self.core.inbound.set_aside(CHANNEL, stored.update_key, "not an Update")
                continue
            if update.update_id in self._prestored:
                continue  # the webhook route queued it a moment ago
            log.info("replaying Telegram update %s", update.update_id)
            self._prestored.add(update.update_id)
            self.application.update_queue.put_nowait(update)

    # ------------------------------------------------------------------ receiving

    async def _webhook(self, request: web.Request) -> web.Response:
        """Verify the secret, store the update, answer 200, process it in the background."""
        expected = self.settings.telegram_webhook_secret or ""
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log.warning("Telegram webhook request with a wrong secret from %s", request.remote)
            return web.Response(status=403)
        body = await read_body(request, MAX_WEBHOOK_BYTES)
        if body is None:
            return web.Response(status=413, text="too large for a Telegram update")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return web.Response(status=400, text="not a Telegram update")
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if not _is_update_id(update_id):
            return web.Response(status=400, text="not a Telegram update")
        assert isinstance(update_id, int)
        key = str(update_id)
        update = self._read_update(payload, update_id)
        if update is None:
            # Signed, so from Telegram (or one who holds the secret): answered 200 so it is
            # not sent again, kept for inspection, never processed.
            await self.core.inbound.set_aside(CHANNEL, key, "not an Update", payload)
            return web.Response(status=200)
        if not await self.core.inbound.store(CHANNEL, key, payload):
            return web.Response(status=200)  # a redelivery: processed, or queued for replay
        if self._accepting:
            # Through PTB's queue like a polled update; the handler hands it to our workers.
            self._prestored.add(update_id)
            self.application.update_queue.put_nowait(update)
        return web.Response(status=200)

    def _read_update(self, payload: dict[str, Any], ref: int) -> Update | None:
        """PTB's Update from stored or received JSON; None (logged once) when it is not one."""
        try:
            update = Update.de_json(payload, self.application.bot)
        except Exception as exc:
            log.warning("Telegram update %s is not an Update (%s)", ref, type(exc).__name__)
            return None
        if update is None or not _is_update_id(update.update_id):
            log.warning("Telegram update %s is not an Update", ref)
            return None
        return update

    async def _on_update(
        self, update: Update, _context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        # Storing starts now, not when the person's queue reaches the update: the next poll
        # waits until this batch is stored (its offset confirms the batch to Telegram), and
        # must not wait for busy workers. PTB hands a polled batch over in one go, so the
        # updates gather here and one task stores them all in one transaction once the
        # hand-over is done. Not awaited here, so PTB keeps handing updates over meanwhile;
        # the worker awaits the store before processing (and drops a redelivery).
        received = self._polls.take(update.update_id)
        if update.update_id not in self._prestored and update.update_id not in self._storing:
            self._unsaved.append((update, received))
            if self._saving is None:
                self._saving = asyncio.create_task(self._store_unsaved())
                self._unconfirmed.append(self._saving)
            self._storing[update.update_id] = self._saving
        self._submit(update)

    async def _stored_before_confirming(self) -> None:
        """Hold the next poll until every batch handed over before it is stored.

        A poll's offset confirms to Telegram every update before it, and PTB moves that
        offset on as soon as it hands a batch over, so only holding the poll keeps Telegram
        from forgetting an update that is not stored yet. A batch that fails to store is
        retried until it is stored; only when the channel stops does it give up, and then
        this poll fails (PTB's last poll at stop logs it) and Telegram sends the batch
        again at the next start. The wait also batches a busy bot's polls: what arrives
        while a batch is stored comes as the next batch, one getUpdates and one
        transaction for all of it.
        """
        # Every update of the last batch handed over to _on_update, so its store has begun.
        await self.application.update_queue.join()
        waiting = list(self._unconfirmed)
        if not waiting:
            return
        # Not cleared before the wait: PTB cancels this poll when stopping, and its last
        # poll must still find what is unstored. That last poll waits a bounded time.
        await asyncio.wait(waiting, timeout=STOP_GRACE if self._stopping.is_set() else None)
        stored = {t for t in waiting if t.done() and not t.cancelled() and t.exception() is None}
        self._unconfirmed = [t for t in self._unconfirmed if t not in stored]
        if len(stored) < len(waiting):
            raise NetworkError("received updates could not be stored; not confirming them")

    async def _store_unsaved(self) -> set[int]:
        """Store the updates gathered since the last batch; the ids that were new.

        Retried until it succeeds (the next poll waits for it), unless the channel stops.
        """
        batch, self._unsaved, self._saving = self._unsaved, [], None
        rows = [(str(update.update_id), raw or update.to_dict()) for update, raw in batch]
        delay = STORE_RETRY_FIRST
        while True:
            try:
                keys = await self.core.inbound.store_many(CHANNEL, rows)
            except Exception:
                if self._stopping.is_set():
                    raise
                log.exception("could not store %d Telegram updates; retrying", len(rows))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(STORE_RETRY_MAX, 2 * delay)
                continue
            return {int(key) for key in keys}

    async def _on_error(self, update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
        # Not the update itself: it carries the person's name and messages.
        ref = getattr(update, "update_id", None)
        log.error("error while handling Telegram update %s", ref, exc_info=context.error)

    def _submit(self, update: Update) -> None:
        user = update.effective_user
        chat = update.effective_chat
        key = str(user.id if user else chat.id if chat else update.update_id)
        self._work.submit(key, update)

    async def _process(self, update: Update) -> None:
        """Store (unless already stored), convert, run through the core, render the replies."""
        key = str(update.update_id)
        handled = False
        try:
            storing = self._storing.pop(update.update_id, None)
            if update.update_id in self._prestored:
                pass  # forgotten once processed (below), so a second replay pass skips it
            elif storing is not None:
                try:
                    new = update.update_id in await storing
                except (Exception, asyncio.CancelledError):
                    # Only when the channel stops with the batch unstored: then it was not
                    # confirmed either, and Telegram sends it again at the next start.
                    if not (storing.done() and self._stopping.is_set()):
                        raise
                    log.info("Telegram update %s not stored before the stop; resent later", key)
                    return
                if not new:
                    log.info("dropping redelivered Telegram update %s", key)
                    return
            elif not await self.core.inbound.store(CHANNEL, key, update.to_dict()):
                log.info("dropping redelivered Telegram update %s", key)
                return
            target, incoming = await self._to_incoming(update)
            if incoming is None or target is None:
                await self.core.inbound.mark_processed(CHANNEL, key)
                return
            typing = asyncio.get_running_loop().call_later(TYPING_AFTER, self._start_typing, target)
            try:
                outcome = await self.core.handle(incoming)
            finally:
                typing.cancel()
            handled = True
            if not outcome.duplicate and not outcome.queued:
                await self._answer(target, outcome)
        except Exception as exc:
            # Logged, not re-raised: one bad update must not stop this person's queue.
            log.exception("failed to process Telegram update %s", key)
            if not handled:
                await self._failed(update, key, exc)
        finally:
            self._prestored.discard(update.update_id)

    async def _failed(self, update: Update, key: str, exc: Exception) -> None:
        """An update the core never took: tried again at the next start if the failure may
        pass (the network, the database), else set aside at once; the person is told when
        it is set aside, so nobody waits for an answer that will not come."""
        try:
            if _may_pass(exc):
                aside = await self.core.inbound.record_failure(CHANNEL, key, type(exc).__name__)
            else:
                await self.core.inbound.set_aside(CHANNEL, key, type(exc).__name__)
                aside = True
            user = update.effective_user
            chat = update.effective_chat
            if aside and user is not None and chat is not None and chat.type == Chat.PRIVATE:
                outcome = await self.core.handle(
                    Incoming(
                        channel=CHANNEL,
                        sender_id=str(user.id),
                        failed=True,
                        update_key=f"{key}:failed",
                    )
                )
                if not outcome.duplicate and not outcome.queued:
                    await self._answer(chat.id, outcome)
        except Exception:
            log.exception("could not record the failure of Telegram update %s", key)

    async def _to_incoming(self, update: Update) -> tuple[int | None, Incoming | None]:
        """The chat to answer and the core's view of the update; ``None`` to ignore it."""
        if update.my_chat_member is not None:
            await self._on_member_change(update)
            return None, None
        if update.callback_query is not None:
            return await self._from_callback(update, update.callback_query)
        message = update.message
        if message is None or message.from_user is None:
            return None, None  # edits, channel posts, anonymous admins: nothing to answer
        chat = message.chat
        base: dict[str, Any] = {
            "channel": CHANNEL,
            "sender_id": str(message.from_user.id),
            "sender_name": message.from_user.full_name,
            "language_code": message.from_user.language_code,
            "update_key": str(update.update_id),
        }
        if chat.type in (Chat.GROUP, Chat.SUPERGROUP):
            # Groups: only commands addressed to this bot; the core decides who may use them.
            text = message.text or ""
            if not text.startswith("/"):
                return None, None
            ours, text = command_target(text, self.bot_username)
            if not ours:
                return None, None
            return chat.id, Incoming(text=text, chat_kind="group", reply_to=str(chat.id), **base)
        if chat.type != Chat.PRIVATE:
            return None, None
        if message.text is not None:
            _, text = command_target(message.text, self.bot_username)
            return chat.id, Incoming(text=text, **base)
        attachment, too_large = await self._download(update.update_id, message)
        if attachment is not None or too_large:
            return chat.id, Incoming(
                text=message.caption,
                attachments=(attachment,) if attachment else (),
                too_large=too_large,
                **base,
            )
        kind = next((k for k in _UNSUPPORTED_KINDS if getattr(message, k, None)), "other")
        return chat.id, Incoming(unsupported=kind, text=message.caption, **base)

    async def _from_callback(
        self, update: Update, query: CallbackQuery
    ) -> tuple[int | None, Incoming | None]:
        # Answer first so the button stops spinning; an expired query only loses the spinner.
        with contextlib.suppress(BadRequest):
            await self._call(query.answer)
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        chat_kind: ChatKind = "private"
        if message is not None and message.chat.type in (Chat.GROUP, Chat.SUPERGROUP):
            chat_kind = "group"
        elif message is not None and message.chat.type != Chat.PRIVATE:
            return None, None
        if isinstance(message, Message) and message.reply_markup is not None:
            # A pressed keyboard is spent: removing it keeps old buttons from being pressed.
            with contextlib.suppress(BadRequest):
                await self._call(lambda: message.edit_reply_markup(reply_markup=None))
        return chat_id, Incoming(
            channel=CHANNEL,
            sender_id=str(query.from_user.id),
            choice=query.data or "",
            sender_name=query.from_user.full_name,
            language_code=query.from_user.language_code,
            update_key=str(update.update_id),
            chat_kind=chat_kind,
            reply_to=str(chat_id),
        )

    async def _on_member_change(self, update: Update) -> None:
        member = update.my_chat_member
        assert member is not None
        if member.chat.type == Chat.PRIVATE and member.new_chat_member.status in (
            ChatMemberStatus.BANNED,
            ChatMemberStatus.LEFT,
        ):
            await self.core.mark_blocked(CHANNEL, str(member.chat.id))

    async def _download(self, update_id: int, message: Message) -> tuple[Attachment | None, bool]:
        """Keep a photo, document or video (as a document); ``(None, True)`` past 20 MB."""
        kind: AttachmentKind
        if message.photo:
            media: Any = message.photo[-1]  # the largest size
            kind, name, mime = "photo", f"photo_{media.file_unique_id}.jpg", "image/jpeg"
        elif message.document is not None:
            media = message.document
            kind, mime = "document", media.mime_type
            name = safe_file_name(media.file_name, f"document_{media.file_unique_id}")
        elif message.video is not None:
            media = message.video  # eviden may be a video; the core takes it as a document
            kind, mime = "document", media.mime_type or "video/mp4"
            name = safe_file_name(media.file_name, f"video_{media.file_unique_id}.mp4")
        else:
            return None, False
        size = media.file_size
        if size is not None and size > DOWNLOAD_LIMIT:
            return None, True
        try:
            remote = await self._call(media.get_file)
        except BadRequest as exc:
            if "too big" in str(exc).lower():
                return None, True
            raise
        user_id = message.from_user.id if message.from_user else message.chat.id
        folder = Path(self.settings.attachments_dir) / CHANNEL / str(user_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{update_id}-{name}"
        await remote.download_to_drive(path)
        return Attachment(kind, path, name, mime, remote.file_size or size), False

    # ------------------------------------------------------------------ sending

    async def _answer(self, chat_id: int, outcome: Outcome) -> None:
        """Send the core's replies right after its commit; the outbox holds them meanwhile,
        so what does not go out now is sent again by the outbox sender."""
        recipient = str(chat_id)
        try:
            await self.deliver(recipient, outcome.replies, template=None, wait_out_flood=True)
        except Blocked:
            log.info("Telegram chat of update %s blocked the bot", outcome.reply_id)
            await self.core.replies_blocked(outcome, CHANNEL, recipient)
        except SendError as exc:
            await self.core.replies_failed(outcome, exc.sent, exc.reason)
        else:
            await self.core.replies_sent(outcome, CHANNEL, recipient)

    async def send(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        """Deliver bot-initiated replies to a user or group chat, waiting out flood control.

        A person who blocked the bot is recorded as such; other failures are raised.
        """
        try:
            await self.deliver(external_id, replies, template=template, wait_out_flood=True)
        except Blocked:
            await self.core.mark_blocked(CHANNEL, external_id)

    async def deliver(
        self,
        recipient: str,
        replies: Sequence[Reply],
        *,
        template: TemplateCall | None = None,
        wait_out_flood: bool = False,
    ) -> list[int]:
        """Send replies in order (``template`` is ignored: Telegram lets a bot write to
        anyone who has not blocked it); returns the ids of the messages sent. Failures are
        raised as :mod:`bot.outbox.errors`, with how many replies went out before; the outbox
        sender handles flood control itself, so only ``wait_out_flood`` waits 429s out here."""
        chat_id = _chat_id(recipient)
        sent: list[int] = []
        with _send_errors(sent):
            for reply in coalesce(replies):
                sent.append(await self._render_one(chat_id, reply, patient=wait_out_flood))
        return sent

    async def edit(self, recipient: str, message_id: int, reply: Reply) -> None:
        """Replace the text and buttons of a message sent before (a broadcast's progress).
        Telegram refuses an edit that changes nothing; that is no failure."""
        chat_id = _chat_id(recipient)
        bot = self.application.bot
        with _send_errors([]):
            try:
                await bot.edit_message_text(
                    reply.text[:4096],
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=keyboard(reply.choices),
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    raise

    async def _render_one(self, chat_id: int, reply: Reply, *, patient: bool = True) -> int:
        """Send one reply (its text in parts, then its file); the last message's id."""
        bot = self.application.bot
        last_id = 0
        markup = keyboard(reply.choices)
        file = reply.file
        caption = file.caption if file else None
        texts = split_text(reply.text)
        if (
            file is not None
            and caption is None
            and len(texts) == 1
            and utf16_len(texts[0]) <= MAX_CAPTION
        ):
            caption, texts = texts[0], []  # one message: the file, captioned by the text
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            keys = markup if last and file is None else None
            message = await self._call(
                partial(bot.send_message, chat_id, text, reply_markup=keys), patient=patient
            )
            last_id = int(getattr(message, "message_id", 0) or 0)
        if file is None:
            if not texts and markup is not None:
                log.error("reply with choices but no text; choices dropped")
            return last_id
        sent = await self._send_file(
            chat_id, file.kind, file.path, file.file_name, caption, markup, patient=patient
        )
        return int(getattr(sent, "message_id", 0) or 0)

    async def _send_file(
        self,
        chat_id: int,
        kind: AttachmentKind,
        path: Path,
        file_name: str,
        caption: str | None,
        markup: InlineKeyboardMarkup | None,
        *,
        patient: bool = True,
    ) -> Message:
        bot = self.application.bot
        if caption is not None and utf16_len(caption) > MAX_CAPTION:
            caption = caption[: MAX_CAPTION - 1] + "…"

        async def upload() -> Any:
            # Re-opened on every attempt: a retried upload must start from the first byte.
            with path.open("rb") as handle:
                if kind == "photo":
                    return await bot.send_photo(
                        chat_id, handle, caption=caption, reply_markup=markup, filename=file_name
                    )
                return await bot.send_document(
                    chat_id, handle, caption=caption, reply_markup=markup, filename=file_name
                )

        return cast(Message, await self._call(upload, patient=patient))

    def _start_typing(self, chat_id: int) -> None:
        self._spawn(self._typing(chat_id))

    async def _typing(self, chat_id: int) -> None:
        with contextlib.suppress(TelegramError):
            await self.application.bot.send_chat_action(chat_id, ChatAction.TYPING)

    async def _call(self, make: Callable[[], Awaitable[T]], *, patient: bool = True) -> T:
        """Run one Bot API call, waiting out 429 answers for as long as Telegram asks
        (unless not ``patient``: the outbox sender reschedules instead)."""
        for _attempt in range(MAX_RETRIES):
            try:
                return await make()
            except RetryAfter as exc:
                if not patient:
                    raise
                wait = _seconds(exc.retry_after)
                log.warning("Telegram flood control: waiting %.1f s", wait)
                await self._sleep(wait)
        return await make()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _PerKeyQueue:
    """Runs jobs one at a time per key, in submission order, with at most ``limit`` keys busy.

    One worker task per key with queued work; it exits when the key's queue is empty. Keys
    are people, so one person's messages never overtake each other.
    """

    def __init__(self, run: Callable[[Update], Awaitable[None]], limit: int) -> None:
        self._run = run
        self._pending: dict[str, deque[Update]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(limit)
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: str, update: Update) -> None:
        queue = self._pending.get(key)
        if queue is not None:
            queue.append(update)
            return
        self._pending[key] = deque([update])
        self._idle.clear()
        task = asyncio.get_running_loop().create_task(self._drain(key))
        self._workers.add(task)
        task.add_done_callback(self._done)

    async def _drain(self, key: str) -> None:
        queue = self._pending[key]
        try:
            while queue:
                update = queue.popleft()
                async with self._slots:
                    await self._run(update)
        finally:
            # No await between the emptiness check and this: submit() cannot slip in.
            del self._pending[key]

    def _done(self, task: asyncio.Task[None]) -> None:
        self._workers.discard(task)
        if not self._workers:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every submitted job has run."""
        await self._idle.wait()


def _chat_id(recipient: str) -> int:
    try:
        return int(recipient)
    except ValueError as exc:
        raise Permanent("not a Telegram chat id") from exc


@contextlib.contextmanager
def _send_errors(sent: list[int]) -> Iterator[None]:
    """Python-telegram-bot's errors as the outbox's, with how many replies went before."""
    try:
        yield
    except RetryAfter as exc:
        raise RateLimited(_seconds(exc.retry_after), sent=len(sent)) from exc
    except Forbidden as exc:
        raise Blocked(str(exc), sent=len(sent)) from exc
    except BadRequest as exc:
        raise Permanent(f"BadRequest: {exc}", sent=len(sent)) from exc
    except (NetworkError, OSError, TimeoutError) as exc:
        raise Transient(f"{type(exc).__name__}: {exc}", sent=len(sent)) from exc
    except TelegramError as exc:
        raise Permanent(f"{type(exc).__name__}: {exc}", sent=len(sent)) from exc


def _is_update_id(value: object) -> bool:
    # JSON numbers only: 1.5, "7" and true are not update ids (bool is an int in Python).
    return type(value) is int and 0 <= value < 2**63


def _may_pass(exc: BaseException) -> bool:
    """Whether a failure may not happen on another try (a network or database outage)."""
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, NetworkError | DBAPIError | OSError | TimeoutError)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _webhook_path(url: str | None) -> str | None:
    if not url:
        return None
    return urlsplit(url).path or "/"
