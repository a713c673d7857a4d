"""A loopback fake of the WhatsApp Cloud API (Graph API), and helpers to send it webhooks.

The fake serves, on 127.0.0.1 and a random port:

- ``POST /{version}/{phone-number-id}/messages``: validates the bearer token and the body
  against Meta's documented limits (text ≤ 4096; reply buttons ≤ 3, titles ≤ 20, unique ids
  ≤ 256; lists ≤ 10 rows in all, row titles ≤ 24, descriptions ≤ 72, button label ≤ 20, body
  ≤ 1024; templates that exist, with the right number of parameters),
- ``POST /{version}/{phone-number-id}/media``: uploads,
- ``GET /{version}/{media-id}``: media metadata, and the media URL itself (bearer required).

Every request is recorded. A request that breaks a documented rule gets Meta's error answer
*and* is recorded in :attr:`FakeGraphApi.violations`, which the test fixture asserts empty at
teardown, so rendering outside the limits fails the test even if the channel copes.
:meth:`FakeGraphApi.fail_next` makes the next calls answer rate limits or server errors.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.channels.whatsapp_webhook import sign

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "whatsapp"
VERSION = "v21.0"
# The media types the Cloud API accepts for upload (audio, document, image, sticker, video).
UPLOAD_TYPES = frozenset(
    {
        "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg",
        "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "image/jpeg", "image/png", "image/webp", "video/mp4", "video/3gpp",
    }
)  # fmt: skip

# What Meta answers for each kind of injected failure: (HTTP status, error code, message).
FAILURES: dict[str, tuple[int, int, str]] = {
    "http429": (429, 80007, "Rate limit issues"),
    "130429": (400, 130429, "Rate limit hit"),
    "131056": (400, 131056, "(Business Account, Consumer Account) pair rate limit hit"),
    "500": (500, 131000, "Something went wrong"),
    "131047": (400, 131047, "Re-engagement message"),
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    raw_path: str = ""  # as sent, before percent-decoding


@dataclass
class StoredMedia:
    data: bytes
    mime_type: str
    file_name: str | None = None


@dataclass
class FakeGraphApi:
    """The Graph API as SASI uses it. ``base_url`` includes the version, like the real one."""

    token: str = "test-token"
    phone_number_id: str = "106540352242922"
    version: str = VERSION
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted message bodies
    message_ids: list[str] = field(default_factory=list)  # the wamid of each, same order
    violations: list[str] = field(default_factory=list)
    media: dict[str, StoredMedia] = field(default_factory=dict)
    uploads: dict[str, StoredMedia] = field(default_factory=dict)
    # Approved templates: name → (language code, number of body parameters).
    templates: dict[str, tuple[str, int]] = field(default_factory=dict)
    _failures: list[str] = field(default_factory=list)
    _drops: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    base_url: str = ""
    origin: str = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/{version}/{phone}/messages", self._messages)
        app.router.add_post("/{version}/{phone}/media", self._upload)
        app.router.add_get("/{version}/{media_id}", self._media_info)
        app.router.add_get("/download/{media_id}", self._download)
        app.router.add_route("*", "/{tail:.*}", self._unexpected)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.origin}/{self.version}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test controls ---------------------------------------------------------------------

    def drop_after_accepting_next(self, count: int = 1) -> None:
        """The next ``count`` messages are accepted (and delivered), but the connection drops
        before the answer: the sender cannot know whether Meta took the message."""
        self._drops += count

    def fail_next(self, count: int, kind: str) -> None:
        """The next ``count`` calls answer the failure ``kind`` (a key of :data:`FAILURES`)."""
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}")
        self._failures.extend([kind] * count)

    def add_media(self, data: bytes, mime_type: str, file_name: str | None = None) -> str:
        """A file a user sent; returns its media id."""
        media_id = str(1000000 + next(self._ids))
        self.media[media_id] = StoredMedia(data, mime_type, file_name)
        return media_id

    def sent_to(self, wa_id: str) -> list[dict[str, Any]]:
        """Messages to a phone number (``to``) or a BSUID (``recipient``)."""
        return [m for m in self.messages if wa_id in (m.get("to"), m.get("recipient"))]

    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/messages")]

    # -- handlers --------------------------------------------------------------------------

    def _record(self, request: web.Request, body: Any = None) -> None:
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.headers), body, request.raw_path
            )
        )

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    def _injected(self) -> web.Response | None:
        if not self._failures:
            return None
        status, code, message = FAILURES[self._failures.pop(0)]
        return _error(status, code, message)

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self._record(request, body)
        if not self._authorised(request):
            return self._violation("missing or wrong bearer token", status=401, code=190)
        if request.match_info["phone"] != self.phone_number_id:
            return self._violation(f"unknown phone number id {request.match_info['phone']}")
        if request.match_info["version"] != self.version:
            return self._violation(f"unexpected API version {request.match_info['version']}")
        if not isinstance(body, dict):
            return self._violation("the body is not a JSON object")
        problems = validate_message(body, set(self.uploads), self.templates)
        if problems:
            code = 132001 if any("template" in p for p in problems) else 100
            return self._violation("; ".join(problems), code=code)
        injected = self._injected()
        if injected is not None:
            return injected
        wamid = f"wamid.FAKE{next(self._ids):08d}"
        self.messages.append(body)
        self.message_ids.append(wamid)
        if self._drops:
            self._drops -= 1
            assert request.transport is not None
            request.transport.close()  # accepted, but the answer never arrives
            raise web.HTTPInternalServerError()
        message: dict[str, Any] = {"id": wamid}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        if "recipient" in body:
            contact = {"input": body["recipient"], "user_id": body["recipient"]}
        else:
            contact = {"input": body["to"], "wa_id": body["to"]}
        return web.json_response(
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}
        )

    async def _upload(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return self._violation("missing or wrong bearer token", status=401, code=190)
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
            return self._violation("an upload needs messaging_product=whatsapp and a file")
        if upload.content_type not in UPLOAD_TYPES:
            # What Meta answers: "Param file must be a file with one of the following types".
            return self._violation(f"unsupported upload type {upload.content_type!r}")
        injected = self._injected()
        if injected is not None:
            return injected
        media_id = str(2000000 + next(self._ids))
        self.uploads[media_id] = StoredMedia(
            upload.file.read(), upload.content_type, upload.filename
        )
        return web.json_response({"id": media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return self._violation("missing or wrong bearer token", status=401, code=190)
        injected = self._injected()
        if injected is not None:
            return injected
        media_id = request.match_info["media_id"]
        media = self.media.get(media_id)
        if media is None:
            return _error(404, 100, f"Unsupported get request. Object with ID '{media_id}'")
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.origin}/download/{media_id}?ext=1&hash=fake",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        self._record(request)
        if not self._authorised(request):
            return self._violation("media download without the bearer token", status=401)
        media = self.media.get(request.match_info["media_id"])
        if media is None:
            return web.Response(status=404)
        return web.Response(body=media.data, content_type=media.mime_type)

    async def _unexpected(self, request: web.Request) -> web.Response:
        self._record(request)
        return self._violation(f"unexpected call {request.method} {request.path}", status=404)

    def _violation(self, problem: str, *, status: int = 400, code: int = 100) -> web.Response:
        self.violations.append(problem)
        return _error(status, code, problem)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": message},
                "fbtrace_id": "AazFakeTrace",
            }
        },
        status=status,
    )


def _text(value: Any, name: str, limit: int, problems: list[str], required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{name} must be a non-empty string")
    elif len(value) > limit:
        problems.append(f"{name} is {len(value)} characters, over {limit}: {value[:40]!r}")


BSUID = r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}"  # Meta's documented form
_TEMPLATE_PARAMETER = re.compile(r"[\n\t]| {5,}")


def validate_message(
    body: dict[str, Any], uploads: set[str], templates: dict[str, tuple[str, int]]
) -> list[str]:
    """Everything wrong with a message body, by the Cloud API's documented rules."""
    problems: list[str] = []
    if body.get("messaging_product") != "whatsapp":
        problems.append("messaging_product must be 'whatsapp'")
    if body.get("recipient_type", "individual") != "individual":
        problems.append("recipient_type must be 'individual'")
    # A phone number goes in "to"; a business-scoped user id (a person known only by
    # username) in "recipient". Exactly one of them.
    to = body.get("to")
    recipient = body.get("recipient")
    if (to is None) == (recipient is None):
        problems.append("a message needs exactly one of 'to' and 'recipient'")
    elif to is not None and (not isinstance(to, str) or not to.isdigit()):
        problems.append(f"'to' must be a phone number, got {to!r}")
    elif recipient is not None and (
        not isinstance(recipient, str) or not re.fullmatch(BSUID, recipient)
    ):
        problems.append(f"'recipient' must be a business-scoped user id, got {recipient!r}")
    kind = body.get("type", "text")
    content = body.get(kind)
    if not isinstance(content, dict):
        return [*problems, f"a {kind!r} message needs a {kind!r} object"]
    if kind == "text":
        _text(content.get("body"), "text.body", 4096, problems)
    elif kind == "interactive":
        _validate_interactive(content, problems)
    elif kind in ("image", "document"):
        media_id = content.get("id")
        if media_id is None and not content.get("link"):
            problems.append(f"{kind} needs an id or a link")
        elif media_id is not None and media_id not in uploads:
            problems.append(f"{kind} refers to unknown media {media_id!r}")
        _text(content.get("caption"), f"{kind}.caption", 1024, problems, required=False)
    elif kind == "template":
        _validate_template(content, templates, problems)
    else:
        problems.append(f"SASI never sends {kind!r} messages")
    return problems


def _validate_interactive(content: dict[str, Any], problems: list[str]) -> None:
    body = content.get("body") or {}
    _text(body.get("text"), "interactive.body.text", 1024, problems)
    if "footer" in content:
        _text((content.get("footer") or {}).get("text"), "footer.text", 60, problems)
    action = content.get("action") or {}
    if content.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            problems.append(f"reply buttons: {len(buttons)} buttons, allowed 1 to 3")
        ids = [((b.get("reply") or {}).get("id")) for b in buttons]
        titles = [((b.get("reply") or {}).get("title")) for b in buttons]
        for button, button_id, title in zip(buttons, ids, titles, strict=True):
            if button.get("type") != "reply":
                problems.append("every button must be of type 'reply'")
            _text(button_id, "button id", 256, problems)
            _text(title, "button title", 20, problems)
        if len(set(ids)) != len(ids):
            problems.append("button ids must be unique")
        if len(set(titles)) != len(titles):
            problems.append("button titles must be unique")
    elif content.get("type") == "list":
        _text(action.get("button"), "list button label", 20, problems)
        sections = action.get("sections") or []
        if not 1 <= len(sections) <= 10:
            problems.append(f"list: {len(sections)} sections, allowed 1 to 10")
        rows = [row for section in sections for row in section.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            problems.append(f"list: {len(rows)} rows in all, allowed 1 to 10")
        for section in sections:
            if len(sections) > 1 or "title" in section:
                _text(section.get("title"), "section title", 24, problems)
        for row in rows:
            _text(row.get("id"), "row id", 200, problems)
            _text(row.get("title"), "row title", 24, problems)
            _text(row.get("description"), "row description", 72, problems, required=False)
        ids = [row.get("id") for row in rows]
        if len(set(ids)) != len(ids):
            problems.append("row ids must be unique")
    else:
        problems.append(f"SASI never sends interactive {content.get('type')!r} messages")


def _validate_template(
    content: dict[str, Any], templates: dict[str, tuple[str, int]], problems: list[str]
) -> None:
    name = content.get("name")
    language = (content.get("language") or {}).get("code")
    if name not in templates:
        problems.append(f"template {name!r} does not exist")
        return
    expected_language, expected_count = templates[name]
    if language != expected_language:
        problems.append(f"template {name!r} has no translation {language!r}")
    parameters = [
        parameter
        for component in content.get("components") or []
        if component.get("type") == "body"
        for parameter in component.get("parameters") or []
    ]
    if len(parameters) != expected_count:
        problems.append(
            f"template {name!r} takes {expected_count} parameters, got {len(parameters)}"
        )
    for parameter in parameters:
        text = parameter.get("text")
        if parameter.get("type") != "text" or not isinstance(text, str) or not text:
            problems.append(f"template parameter {parameter!r} is not text")
        elif _TEMPLATE_PARAMETER.search(text):
            problems.append("template parameters cannot have new lines, tabs or 5 spaces")


# -- webhooks -------------------------------------------------------------------------------


def load_payload(name: str, **values: str) -> dict[str, Any]:
    """A recorded webhook body from ``tests/data/whatsapp/``, placeholders filled in.

    ``values`` maps placeholder names without their angle brackets (``WHATSAPP_USER_ID``) to
    values; every placeholder in the file must be given one.
    """
    template = (DATA_DIR / f"{name}.json").read_text(encoding="utf-8")
    missing = sorted(set(re.findall(r"<([A-Z0-9_]+)>", template)) - set(values))
    if missing:
        raise KeyError(f"{name}.json: no value for {missing}")

    def fill(match: re.Match[str]) -> str:
        # One pass over the file: a value that itself looks like "<NAME>" (users type such
        # things) is never taken for a placeholder.
        key = match.group(1)
        return json.dumps(values[key])[1:-1] if key in values else match.group(0)

    payload: dict[str, Any] = json.loads(re.sub(r"<([A-Z0-9_]+)>", fill, template))
    return payload


def signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A webhook body and headers as Meta sends them, signed with the app secret."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}


# -- a person on WhatsApp, talking to SASI through the real webhook --------------------------


def _is_bsuid(address: str) -> bool:
    return re.fullmatch(BSUID, address) is not None

_message_ids = itertools.count(1)


def new_message_id() -> str:
    """A message id shaped like Meta's (``wamid.`` and base64-ish text)."""
    return f"wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjA{next(_message_ids):012d}AA=="


def visible_text(message: dict[str, Any]) -> str:
    """What a person reads of a sent message: body, buttons, rows, caption, template params."""
    kind = message.get("type")
    if kind == "text":
        return str(message["text"]["body"])
    if kind == "interactive":
        interactive = message["interactive"]
        lines = [interactive["body"]["text"]]
        if interactive["type"] == "button":
            lines += [b["reply"]["title"] for b in interactive["action"]["buttons"]]
        else:
            for section in interactive["action"]["sections"]:
                for row in section["rows"]:
                    lines.append(row["title"])
                    if row.get("description"):
                        lines.append(row["description"])
        return "\n".join(lines)
    if kind in ("image", "document"):
        return str(message[kind].get("caption") or "")
    if kind == "template":
        return " ".join(
            p["text"]
            for c in message["template"].get("components", [])
            for p in c.get("parameters", [])
        )
    return ""


def offered_choices(message: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """The (id, title, description) of every button or row in an interactive message."""
    if message.get("type") != "interactive":
        return []
    interactive = message["interactive"]
    if interactive["type"] == "button":
        return [
            (b["reply"]["id"], b["reply"]["title"], None) for b in interactive["action"]["buttons"]
        ]
    return [
        (row["id"], row["title"], row.get("description"))
        for section in interactive["action"]["sections"]
        for row in section["rows"]
    ]


class WebhookPoster:
    """Signs and POSTs webhook bodies to the channel's real aiohttp server."""

    def __init__(self, session: Any, url: str, secret: str, values: dict[str, str]) -> None:
        self.session = session
        self.url = url
        self.secret = secret
        self.values = values  # the business's placeholders: account, phone number id …

    async def post(self, payload: dict[str, Any], *, signature: str | None = "valid") -> int:
        body, headers = signed(self.secret, payload)
        if signature is None:
            del headers["X-Hub-Signature-256"]
        elif signature != "valid":
            headers["X-Hub-Signature-256"] = signature
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return int(response.status)

    def payload(self, name: str, **values: str) -> dict[str, Any]:
        return load_payload(name, **{**self.values, **values})


class WhatsAppUser:
    """A person chatting with SASI on WhatsApp: sends signed webhooks, reads what came back.

    ``wait`` is awaited after each webhook so that background processing is done before the
    test reads the fake's record (the channel's ``idle``).
    """

    def __init__(
        self,
        poster: WebhookPoster,
        fake: FakeGraphApi,
        wait: Any,
        wa_id: str,
        name: str,
        *,
        bsuid: str | None = None,
        username: str = "@pengguna",
    ) -> None:
        self.poster = poster
        self.fake = fake
        self.wait = wait
        # The address SASI answers: the phone number, or for a person known only by
        # username their business-scoped user id (``wa_id`` then is that BSUID).
        self.wa_id = wa_id
        self.name = name
        self.bsuid = bsuid if bsuid is not None else (wa_id if _is_bsuid(wa_id) else None)
        self.username = username
        self._seen = 0

    @property
    def username_only(self) -> bool:
        return self.bsuid is not None and self.bsuid == self.wa_id

    def payload_name(self, name: str) -> str:
        """The recorded payload as this person sends it: with a BSUID only, or both ids."""
        if self.username_only and (DATA_DIR / f"{name}_username.json").exists():
            return f"{name}_username"
        if self.bsuid is not None and name == "text":
            return "text_both_ids"
        return name

    def _values(self, message_id: str, **extra: str) -> dict[str, str]:
        return {
            "WHATSAPP_USER_ID": self.wa_id,
            "WHATSAPP_USER_PHONE_NUMBER": self.wa_id,
            "WHATSAPP_BSUID": self.bsuid or "",
            "WHATSAPP_USERNAME": self.username,
            "WHATSAPP_USER_NAME": self.name,
            "WHATSAPP_MESSAGE_ID": message_id,
            "WEBHOOK_SENT_TIMESTAMP": "1767225600",
            "CONTEXT_MESSAGE_ID": self.last_interactive_id(),
            **extra,
        }

    def last_interactive_id(self) -> str:
        """The wamid of the last message SASI sent this person (a reply's ``context``)."""
        for message, wamid in zip(
            reversed(self.fake.messages), reversed(self.fake.message_ids), strict=True
        ):
            if self.wa_id in (message.get("to"), message.get("recipient")):
                return wamid
        return "wamid.NONE"

    def inbox(self) -> list[dict[str, Any]]:
        return self.fake.sent_to(self.wa_id)

    def new_messages(self) -> list[dict[str, Any]]:
        messages = self.inbox()
        fresh = messages[self._seen :]
        self._seen = len(messages)
        return fresh

    async def send(
        self, name: str, *, message_id: str | None = None, **values: str
    ) -> list[dict[str, Any]]:
        """Send a recorded payload; returns the messages SASI sent this person in answer."""
        payload = self.poster.payload(
            self.payload_name(name), **self._values(message_id or new_message_id(), **values)
        )
        status = await self.poster.post(payload)
        assert status == 200, f"webhook answered {status}"
        await self.wait()
        return self.new_messages()

    async def says(self, text: str) -> list[dict[str, Any]]:
        return await self.send("text", MESSAGE_BODY_TEXT=text)

    def last_interactive(self) -> dict[str, Any]:
        for message in reversed(self.inbox()):
            if message.get("type") == "interactive":
                return message
        raise AssertionError(f"{self.wa_id} was never offered a choice")

    async def taps(self, wanted: str) -> list[dict[str, Any]]:
        """Press the button or list row whose title (or id) is ``wanted`` in the last offer."""
        message = self.last_interactive()
        for choice_id, title, description in offered_choices(message):
            if wanted in (title, choice_id):
                if message["interactive"]["type"] == "button":
                    return await self.send(
                        "interactive_button_reply", BUTTON_ID=choice_id, BUTTON_TITLE=title
                    )
                return await self.send(
                    "interactive_list_reply",
                    ROW_ID=choice_id,
                    ROW_TITLE=title,
                    ROW_DESCRIPTION=description or "",
                )
        offered = [title for _, title, _ in offered_choices(message)]
        raise AssertionError(f"{wanted!r} is not among the offered choices {offered}")
