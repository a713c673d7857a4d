"""A loopback fake of the Telegram Bot API, for end-to-end tests and the benchmark.

It serves ``/bot<token>/<method>`` and ``/file/bot<token>/<path>`` on 127.0.0.1, answers like
the real API (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description"}``),
records every call, lets a test inject updates (delivered through ``getUpdates`` or POSTed to a
webhook once one is set) and scripted failures (429 with ``retry_after``, 403 …).

It fails loudly: a method it does not implement, a malformed request, a text over 4,096
characters or callback data over 64 bytes answers 400 *and* is appended to :attr:`errors`,
which test fixtures assert is empty at teardown, so a bot bug cannot hide behind a polite
error answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token_for_the_loopback_fake"
BOT_ID = 123456
BOT_USERNAME = "sasi_test_bot"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the cloud Bot API's getFile limit

# Parameters PTB sends JSON-encoded; every other form field is a plain string.
_JSON_FIELDS = frozenset(
    {
        "chat_id", "message_id", "offset", "limit", "timeout", "allowed_updates",
        "reply_markup", "commands", "scope", "drop_pending_updates", "show_alert",
        "cache_time", "max_connections", "link_preview_options", "reply_parameters",
        "disable_notification", "protect_content", "entities", "caption_entities",
        "has_spoiler", "disable_content_type_detection", "message_thread_id",
        "show_caption_above_media", "allow_paid_broadcast",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One request the bot made: method, decoded parameters, uploaded files (name → bytes)."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str | None:
        value = self.params.get("text", self.params.get("caption"))
        return str(value) if value is not None else None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of the inline keyboard sent with this call, row by row."""
        return _buttons(self.params.get("reply_markup"))


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "id"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def private_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True)
class FakeGroup:
    id: int
    title: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "supergroup", "title": self.title}


@dataclass
class _Failure:
    status: int
    description: str
    remaining: int
    retry_after: int | None = None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    size: int
    path: str


@dataclass
class SentMessage:
    """A message the bot sent, as the fake keeps it (edits update it in place)."""

    message_id: int
    chat: dict[str, Any]
    text: str | None
    reply_markup: dict[str, Any] | None
    kind: str = "text"  # text | document | photo
    file_name: str | None = None

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return _buttons(self.reply_markup)

    def as_dict(self, bot_user: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": bot_user,
        }
        if self.kind == "text":
            data["text"] = self.text or ""
        elif self.text:
            data["caption"] = self.text
        if self.kind == "document":
            data["document"] = {
                "file_id": f"doc-out-{self.message_id}",
                "file_unique_id": f"udo{self.message_id}",
                "file_name": self.file_name,
            }
        elif self.kind == "photo":
            data["photo"] = [
                {
                    "file_id": f"photo-out-{self.message_id}",
                    "file_unique_id": f"upo{self.message_id}",
                    "width": 800,
                    "height": 600,
                }
            ]
        if self.reply_markup:
            data["reply_markup"] = self.reply_markup
        return data


def _buttons(markup: Any) -> list[tuple[str, str]]:
    if not isinstance(markup, dict):
        return []
    return [
        (str(button.get("text")), str(button.get("callback_data")))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


class ApiError(Exception):
    """Raised inside a method implementation to answer an API error."""

    def __init__(self, status: int, description: str, *, bot_bug: bool = True) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.bot_bug = bot_bug  # recorded in ``errors``: the bot should never cause it


def _utf16_len(text: str) -> int:
    # Telegram measures message length in UTF-16 code units, like its entity offsets.
    return len(text.encode("utf-16-le")) // 2


class FakeTelegramApi:
    """The fake server. Use ``async with FakeTelegramApi() as fake:``; ``fake.base_url`` is the
    value for ``TELEGRAM_API_BASE_URL``."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.errors: list[str] = []
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.commands: dict[str | None, list[dict[str, str]]] = {}  # language_code → commands
        self.messages: dict[tuple[int, int], SentMessage] = {}  # (chat_id, message_id) → message
        self._by_chat: dict[int, list[SentMessage]] = {}  # the same, per chat, in sending order
        self.answered_callbacks: set[str] = set()
        # Telegram's flood limits, when a test or bench turns them on: 429 past 30 messages
        # in any second overall, or a second message to one chat within a second.
        self.enforce_limits = False
        self.flood_refusals = 0
        self.send_times: list[float] = []  # monotonic time of every accepted send
        self.send_chats: list[int] = []  # and the chat it went to, at the same index
        self._chat_sent: dict[int, float] = {}
        # Set to hold sends unanswered (and undelivered) until it is set again.
        self.sends_open = asyncio.Event()
        self.sends_open.set()
        self.held = 0
        # Cleared to deliver sends but hold their answers (the bot cannot know they arrived).
        self.answers_open = asyncio.Event()
        self.answers_open.set()
        self.answers_held = 0
        self.bot_user = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "SASI",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.webhook: dict[str, Any] | None = None
        self.blocked: set[int] = set()
        self._chats: dict[int, dict[str, Any]] = {}
        self._pending: list[dict[str, Any]] = []  # updates not yet confirmed through getUpdates
        # Telegram serves one long poll per token: a newer getUpdates ends the one waiting
        # with 409 Conflict (two processes polling one bot).
        self._polls = itertools.count(1)
        self._current_poll = 0
        self.poll_conflicts = 0
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, _StoredFile] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._changed = asyncio.Event()
        self._webhook_queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._webhook_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
            "close": lambda _p, _f: True,
            "logOut": lambda _p, _f: True,
        }

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The Bot API base URL the bot should use (``TELEGRAM_API_BASE_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession()
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())

    async def stop(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramApi:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- scripting

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        ``status=429`` answers ``Too Many Requests`` with ``parameters.retry_after`` (default 1).
        """
        if status == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
        self._failures.setdefault(method, []).append(
            _Failure(status, description or "Bad Request: scripted failure", times, retry_after)
        )

    def user(
        self,
        user_id: int,
        first_name: str = "Budi",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "id",
    ) -> FakeUser:
        """A Telegram user who has opened a private chat with the bot."""
        user = FakeUser(user_id, first_name, last_name, username, language_code)
        self._chats[user_id] = user.private_chat()
        return user

    def group(self, group_id: int, title: str = "Bappeda") -> FakeGroup:
        """A supergroup the bot is a member of (ids are negative, as on Telegram)."""
        group = FakeGroup(group_id, title)
        self._chats[group_id] = group.as_dict()
        return group

    def block(self, user: FakeUser) -> int:
        """The user blocks the bot: sends to them answer 403, a ``my_chat_member`` update comes."""
        self.blocked.add(user.id)
        return self.inject(
            {
                "my_chat_member": {
                    "chat": user.private_chat(),
                    "from": user.as_dict(),
                    "date": int(time.time()),
                    "old_chat_member": {"status": "member", "user": self.bot_user},
                    "new_chat_member": {
                        "status": "kicked",
                        "user": self.bot_user,
                        "until_date": 0,
                    },
                }
            }
        )

    def add_file(self, content: bytes, *, declared_size: int | None = None) -> _StoredFile:
        """Keep a file users can send; ``declared_size`` pretends it is bigger than it is."""
        number = next(self._file_ids)
        stored = _StoredFile(
            file_id=f"file-{number}",
            file_unique_id=f"uniq{number}",
            content=content,
            size=declared_size if declared_size is not None else len(content),
            path=f"documents/file_{number}.bin",
        )
        self._files[stored.file_id] = stored
        return stored

    def inject(self, payload: dict[str, Any], update_id: int | None = None) -> int:
        """Queue one update (``payload`` without ``update_id``); returns its ``update_id``."""
        update = {"update_id": update_id if update_id is not None else next(self._update_ids)}
        update.update(payload)
        if self.webhook is not None:
            self._webhook_queue.put_nowait(update)
        else:
            self._pending.append(update)
            self._notify()
        return int(update["update_id"])

    def redeliver(self, update: dict[str, Any]) -> int:
        """Deliver an update again with its original ``update_id`` (Telegram's at-least-once)."""
        payload = {k: v for k, v in update.items() if k != "update_id"}
        return self.inject(payload, update_id=int(update["update_id"]))

    def _message(self, chat: dict[str, Any], user: FakeUser, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user.as_dict(),
            **fields,
        }

    def message_update(self, user: FakeUser, text: str) -> dict[str, Any]:
        """The payload of a private text message (not injected; see :meth:`send_text`)."""
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return {"message": self._message(user.private_chat(), user, **fields)}

    def send_text(self, user: FakeUser, text: str) -> int:
        """The user types ``text`` in the private chat (commands get their entity)."""
        return self.inject(self.message_update(user, text))

    def send_command(self, user: FakeUser, command: str, args: str = "") -> int:
        return self.send_text(user, f"/{command}" + (f" {args}" if args else ""))

    def send_group_text(self, group: FakeGroup, user: FakeUser, text: str) -> int:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self.inject({"message": self._message(group.as_dict(), user, **fields)})

    def send_photo(self, user: FakeUser, content: bytes, caption: str | None = None) -> int:
        stored = self.add_file(content)
        sizes = [
            {"file_id": f"{stored.file_id}-thumb", "file_unique_id": f"{stored.file_unique_id}t",
             "width": 90, "height": 67, "file_size": 1000},
            {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
             "width": 1280, "height": 960, "file_size": stored.size},
        ]  # fmt: skip
        fields: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self.inject({"message": self._message(user.private_chat(), user, **fields)})

    def send_document(
        self,
        user: FakeUser,
        content: bytes,
        file_name: str = "eviden.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        declared_size: int | None = None,
    ) -> int:
        stored = self.add_file(content, declared_size=declared_size)
        fields: dict[str, Any] = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": stored.size,
            }
        }
        if caption is not None:
            fields["caption"] = caption
        return self.inject({"message": self._message(user.private_chat(), user, **fields)})

    def send_sticker(self, user: FakeUser) -> int:
        sticker = {
            "file_id": "sticker-1", "file_unique_id": "ustk1", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": "👍",
        }  # fmt: skip
        return self.inject({"message": self._message(user.private_chat(), user, sticker=sticker)})

    def send_location(self, user: FakeUser) -> int:
        location = {"latitude": -6.2, "longitude": 106.8}
        return self.inject({"message": self._message(user.private_chat(), user, location=location)})

    def callback_update(self, user: FakeUser, message: SentMessage, data: str) -> dict[str, Any]:
        """The payload of a button press on ``message`` (not injected; see :meth:`press`)."""
        return {
            "callback_query": {
                "id": f"cbq-{next(self._callback_ids)}",
                "from": user.as_dict(),
                "message": message.as_dict(self.bot_user),
                "chat_instance": f"ci-{message.chat['id']}",
                "data": data,
            }
        }

    def press(self, user: FakeUser, message: SentMessage, data: str, *, check: bool = True) -> int:
        """The user presses the button carrying ``data`` on ``message``.

        With ``check`` the button must still be on the message, as a real client only shows
        buttons that exist; ``check=False`` forges a press (callback data is never trusted).
        """
        if check and data not in [d for _, d in message.buttons]:
            raise AssertionError(f"message {message.message_id} has no button {data!r}")
        return self.inject(self.callback_update(user, message, data))

    def press_label(self, user: FakeUser, message: SentMessage, label_part: str) -> int:
        """Press the first button whose text contains ``label_part`` (case-insensitive)."""
        for text, data in message.buttons:
            if label_part.lower() in text.lower():
                return self.press(user, message, data)
        raise AssertionError(f"no button like {label_part!r} in {message.buttons}")

    # ---------------------------------------------------------------- inspection

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to a chat, oldest first, as currently shown (after edits)."""
        return list(self._by_chat.get(chat_id, ()))

    def count_to(self, chat_id: int) -> int:
        """How many messages went to a chat (cheap enough to poll under load)."""
        return len(self._by_chat.get(chat_id, ()))

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.text or "" for m in self.sent_to(chat_id)]

    def last_to(self, chat_id: int) -> SentMessage:
        messages = self.sent_to(chat_id)
        if not messages:
            raise AssertionError(f"nothing was sent to {chat_id}")
        return messages[-1]

    def last_with_buttons(self, chat_id: int) -> SentMessage:
        """The newest message to ``chat_id`` that still shows buttons."""
        for message in reversed(self._by_chat.get(chat_id, ())):
            if message.buttons:
                return message
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked after every request and every 20 ms."""
        async with asyncio.timeout(within):
            await self._wait_until(predicate)

    async def wait_sent(self, chat_id: int, count: int, within: float = 5.0) -> list[SentMessage]:
        """Wait until at least ``count`` messages went to ``chat_id``; returns them all."""
        try:
            await self.wait_for(lambda: len(self.sent_to(chat_id)) >= count, within)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} messages to {chat_id}, got {self.texts_to(chat_id)!r}; "
                f"errors: {self.errors!r}"
            ) from None
        return self.sent_to(chat_id)

    async def wait_idle(self, quiet: float = 0.2, within: float = 5.0) -> None:
        """Wait until no request came for ``quiet`` seconds (to show nothing more is sent)."""
        async with asyncio.timeout(within):
            while True:
                seen = len(self.calls)
                await asyncio.sleep(quiet)
                if len(self.calls) == seen:
                    return

    def _notify(self) -> None:
        # Wake every waiter; each re-checks its own condition (cheap, and no lock needed).
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        # Woken by every request; the short re-check also covers state outside the fake
        # (what the core recorded, files on disk).
        while not predicate():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    await self._changed.wait()

    # ---------------------------------------------------------------- HTTP

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(404, "Not Found")
        try:
            params, files = await _read_params(request)
        except ValueError as exc:
            self._record_error(f"{method}: unreadable request: {exc}")
            return _error(400, f"Bad Request: {exc}")
        call = Call(method, params, files)
        self.calls.append(call)
        try:
            failure = self._take_failure(method)
            if failure is not None:
                return _error(failure.status, failure.description, failure.retry_after)
            implementation = self._methods.get(method)
            if implementation is None:
                raise ApiError(400, f"Bad Request: fake does not implement {method}")
            if method in _SENDS:
                if not self.sends_open.is_set():
                    self.held += 1
                    self._notify()
                    await self.sends_open.wait()
                    if request.transport is None or request.transport.is_closing():
                        # The bot died waiting: Telegram never took this message.
                        return _error(500, "connection lost")
                flood = self._flood(params)
                if flood is not None:
                    return flood
            if method == "getUpdates":
                result = await self._get_updates(params, files)
            else:
                result = implementation(params, files)
            if method in _SENDS and not self.answers_open.is_set():
                self.answers_held += 1
                self._notify()
                await self.answers_open.wait()
            return web.json_response({"ok": True, "result": result})
        except ApiError as exc:
            if exc.bot_bug:
                self._record_error(f"{method}: {exc.description} (params {params!r})")
            return _error(exc.status, exc.description)
        finally:
            self._notify()

    def _flood(self, params: dict[str, Any]) -> web.Response | None:
        now = time.monotonic()
        raw = str(params.get("chat_id", 0))
        chat = int(raw) if raw.lstrip("-").isdigit() else 0
        if self.enforce_limits:
            recent = [t for t in self.send_times[-40:] if now - t < 1.0]
            last = self._chat_sent.get(chat)
            if len(recent) >= 30 or (last is not None and now - last < 1.0):
                self.flood_refusals += 1
                return _error(429, "Too Many Requests: retry after 1", 1)
            self._chat_sent[chat] = now
        self.send_times.append(now)
        self.send_chats.append(chat)
        return None

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(404, "Not Found")
        path = request.match_info["path"]
        self.calls.append(Call("<download>", {"path": path}))
        self._notify()
        for stored in self._files.values():
            if stored.path == path:
                return web.Response(body=stored.content)
        self._record_error(f"download of unknown file {path}")
        return _error(404, "Not Found")

    def _record_error(self, message: str) -> None:
        self.errors.append(message)

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    # ---------------------------------------------------------------- methods

    def _get_me(self, _params: dict[str, Any], _files: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _get_updates(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        poll = self._current_poll = next(self._polls)
        self._notify()  # a poll waiting below learns it was overtaken
        if offset is not None:
            # Offset confirms every update before it: they are never sent again.
            self._pending = [u for u in self._pending if u["update_id"] >= int(offset)]
        if not self._pending and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self._wait_until(
                        lambda: bool(self._pending) or self._current_poll != poll
                    )
            except TimeoutError:
                pass
        if self._current_poll != poll:
            self.poll_conflicts += 1
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one "
                "bot instance is running",
                bot_bug=False,
            )
        return self._pending[:limit]

    def _set_webhook(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        url = params.get("url")
        if not url:
            return self._delete_webhook(params, _files)
        secret = params.get("secret_token")
        if secret is not None and not _valid_secret(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
        }
        if params.get("drop_pending_updates"):
            self._pending.clear()
        # Updates waiting for getUpdates are now delivered to the webhook, oldest first.
        for update in self._pending:
            self._webhook_queue.put_nowait(update)
        self._pending.clear()
        return True

    def _delete_webhook(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _get_webhook_info(self, _params: dict[str, Any], _files: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending) + self._webhook_queue.qsize(),
        }
        if self.webhook and self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _set_my_commands(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not commands or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a non-empty list of at most 100")
        for command in commands:
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise ApiError(400, f"Bad Request: BOT_COMMAND_INVALID: {name!r}")
            if not (1 <= len(description) <= 256):
                raise ApiError(400, f"Bad Request: command description invalid: {name!r}")
        self.commands[params.get("language_code") or None] = commands
        return True

    def _delete_my_commands(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        self.commands.pop(params.get("language_code") or None, None)
        return True

    def _get_my_commands(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        return self.commands.get(params.get("language_code") or None, [])

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat_id = int(chat_id)
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user", bot_bug=False)
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            raise ApiError(400, "Bad Request: unsupported reply_markup")
        for row in markup["inline_keyboard"]:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise ApiError(400, "Bad Request: button text is empty")
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA):
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _check_text(text: Any, limit: int, what: str) -> str:
        text = "" if text is None else str(text)
        if what == "message" and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > limit:
            raise ApiError(400, f"Bad Request: {what} is too long")
        return text

    def _keep(self, message: SentMessage) -> dict[str, Any]:
        self.messages[(int(message.chat["id"]), message.message_id)] = message
        self._by_chat.setdefault(int(message.chat["id"]), []).append(message)
        return message.as_dict(self.bot_user)

    def _send_message(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        chat = self._chat(params)
        text = self._check_text(params.get("text"), MAX_TEXT, "message")
        markup = self._check_markup(params.get("reply_markup"))
        return self._keep(SentMessage(next(self._message_ids), chat, text, markup))

    def _send_file(self, kind: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat = self._chat(params)
        caption = params.get("caption")
        if caption is not None:
            caption = self._check_text(caption, MAX_CAPTION, "caption")
        markup = self._check_markup(params.get("reply_markup"))
        upload = files.get(kind)
        if upload is None and not params.get(kind):
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        file_name = upload[0] if upload else str(params.get(kind))
        message = SentMessage(next(self._message_ids), chat, caption, markup, kind, file_name)
        return self._keep(message)

    def _send_document(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self._send_file("document", params, files)

    def _send_photo(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        return self._send_file("photo", params, files)

    def _stored_message(self, params: dict[str, Any]) -> SentMessage:
        chat = self._chat(params)
        key = (int(chat["id"]), int(params.get("message_id") or 0))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found", bot_bug=False)
        return message

    def _edit_message_text(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        message = self._stored_message(params)
        text = self._check_text(params.get("text"), MAX_TEXT, "message")
        markup = self._check_markup(params.get("reply_markup"))
        if text == message.text and markup == message.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified", bot_bug=False)
        message.text, message.reply_markup = text, markup
        return message.as_dict(self.bot_user)

    def _edit_message_reply_markup(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        message = self._stored_message(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup == message.reply_markup or (not markup and not message.reply_markup):
            raise ApiError(400, "Bad Request: message is not modified", bot_bug=False)
        message.reply_markup = markup
        return message.as_dict(self.bot_user)

    def _answer_callback_query(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id:
            raise ApiError(400, "Bad Request: query id is empty")
        if query_id in self.answered_callbacks:
            raise ApiError(400, "Bad Request: query is too old or query ID is invalid")
        self.answered_callbacks.add(query_id)
        return True

    def _send_chat_action(self, params: dict[str, Any], _files: dict[str, Any]) -> bool:
        self._chat(params)
        return True

    def _get_file(self, params: dict[str, Any], _files: dict[str, Any]) -> Any:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    # ---------------------------------------------------------------- webhook delivery

    async def _deliver_webhooks(self) -> None:
        while True:
            update = await self._webhook_queue.get()
            webhook = self.webhook
            if webhook is None:
                self._pending.append(update)
                continue
            headers = {}
            if webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
            assert self._session is not None
            try:
                async with self._session.post(
                    webhook["url"], json=update, headers=headers
                ) as response:
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            self.webhook_deliveries.append((int(update["update_id"]), status))
            self._notify()


_SENDS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})


def _valid_secret(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body is not an object")
        return body, files
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                files[part.name] = (part.filename, bytes(await part.read()))
            else:
                params[part.name] = await part.text()
    else:
        form = await request.post()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
    params.update(request.query)
    for key in list(params):
        if key in _JSON_FIELDS:
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError as exc:
                raise ValueError(f"{key} is not JSON: {params[key]!r}") from exc
    return params, files


# -------------------------------------------------------------------- the bot against the fake


@dataclass
class TelegramRig:
    """SASI's Telegram channel running against a :class:`FakeTelegramApi`.

    In webhook mode the project's own aiohttp app (``bot.web.build_web_app``) serves the
    channel's route on a loopback port and the fake POSTs updates to it.
    """

    fake: FakeTelegramApi
    settings: Any
    core: Any
    channel: Any
    mode: str
    core_factory: Callable[[Any], Any]
    sleeps: list[float] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    _runner: web.AppRunner | None = None

    @property
    def webhook_url(self) -> str:
        return str(self.settings.telegram_webhook_url)

    async def _record_sleep(self, seconds: float) -> None:
        # 429 waits are recorded, then honoured briefly so the test stays fast.
        self.sleeps.append(seconds)
        await asyncio.sleep(0)

    async def start(self) -> None:
        from bot.channels.telegram import TelegramChannel
        from bot.web import build_web_app

        self._stack = contextlib.AsyncExitStack()
        self.core = await self._stack.enter_async_context(self.core_factory(self.settings))
        self.channel = TelegramChannel(self.settings, self.core, sleep=self._record_sleep)
        if self.mode == "webhook":
            sock = socket.socket()
            # A restart binds the same port again while the old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", urlsplit(self.webhook_url).port or 0))
            app = build_web_app(self.core.database, [self.channel])
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
        await self.channel.start()

    async def stop(self) -> None:
        """Stop as a process would on SIGTERM: channel, web server, core."""
        await self.channel.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._stack.aclose()

    async def restart(self) -> None:
        """A fresh channel and core on the same database and fake, like a new process."""
        await self.stop()
        await self.start()


def free_port() -> int:
    """A loopback port nobody listens on (for the webhook URL given to setWebhook)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def telegram_rig(
    workdir: Any,
    mode: str = "polling",
    core_factory: Callable[[Any], Any] | None = None,
    *,
    database_url: str | None = None,
    secret: str = "s3cret-Token_1",
    **settings_changes: Any,
) -> Any:
    """Fake API, core (``open_core`` unless given) and channel, started; all stopped after.
    ``settings_changes`` replace fields of the rig's Settings (a low document limit, say).

    Teardown fails the test if the fake saw a request it could not serve.
    """
    from bot.config import Settings

    if core_factory is None:
        from bot.app import open_core

        core_factory = open_core
    workdir = Path(workdir)
    async with FakeTelegramApi() as fake:
        webhook_url = None
        if mode == "webhook":
            webhook_url = f"http://127.0.0.1:{free_port()}/webhooks/telegram"
        settings = Settings(
            database_url=database_url or f"sqlite+aiosqlite:///{workdir / 'sasi.db'}",
            data_dir=workdir / "data",
            attachments_dir=workdir / "attachments",
            telegram_bot_token=fake.token,
            telegram_api_base_url=fake.base_url,
            telegram_webhook_url=webhook_url,
            telegram_webhook_secret=secret if webhook_url else None,
        )
        if settings_changes:
            import dataclasses

            settings = dataclasses.replace(settings, **settings_changes)
        rig = TelegramRig(fake, settings, None, None, mode, core_factory)
        await rig.start()
        try:
            yield rig
        finally:
            await rig.stop()
        assert not fake.errors, f"the fake Bot API saw bad requests: {fake.errors}"
