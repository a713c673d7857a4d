"""Turn the core's replies into WhatsApp Cloud API message bodies, within Meta's limits.

1–3 choices whose titles fit a button become reply buttons; anything else (up to 10) becomes a
list message. Long text is split; an interactive body longer than Meta allows is preceded by
the rest of the text as plain messages.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from bot.channels.whatsapp_webhook import is_bsuid
from handlers.messages import OutgoingFile, Reply

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_CAPTION = 1024
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_BUTTON = 20
# WhatsApp shows images only in these formats; anything else goes as a document.
IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png"})
# The document types the Cloud API accepts. Other text (a CSV export) is uploaded as plain
# text under its own file name: WhatsApp takes it, and the phone opens it by its extension.
DOCUMENT_MIME_TYPES = frozenset(
    {
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


@dataclass(frozen=True)
class MessagePart:
    """A message ready to POST to ``/{phone-number-id}/messages``."""

    payload: dict[str, Any]


@dataclass(frozen=True)
class FilePart:
    """A file to upload first; its media id then completes the message."""

    to: str
    kind: str  # "image" or "document", WhatsApp's message type
    file: OutgoingFile
    mime_type: str
    caption: str | None


Part = MessagePart | FilePart


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut text into pieces of at most ``limit`` characters, at paragraph, line or word ends."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > limit // 4:  # do not leave a tiny fragment behind
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def interactive_body(text: str) -> tuple[str, str]:
    """Split text into what goes before an interactive message and the message's body.

    The body is the whole text when it fits, else the core's own last paragraph (which is the
    question the choices answer), so the channel never invents words.
    """
    text = text.strip()
    if len(text) <= MAX_INTERACTIVE_BODY:
        return "", text
    lead, _, last = text.rpartition("\n\n")
    if lead and 0 < len(last) <= MAX_INTERACTIVE_BODY:
        return lead, last
    # One huge paragraph: its last lines or words that fit become the body.
    tail = text[-MAX_INTERACTIVE_BODY:]
    for separator in ("\n", " "):
        cut = tail.find(separator)
        if cut >= 0:
            tail = tail[cut + 1 :]
            break
    return text[: len(text) - len(tail)].rstrip(), tail


def addressed(to: str) -> dict[str, Any]:
    """The head of every message body: a phone number goes in ``to``; a person known only
    by username is addressed by their business-scoped user id in ``recipient``."""
    field = "recipient" if is_bsuid(to) else "to"
    return {"messaging_product": "whatsapp", "recipient_type": "individual", field: to}


def text_payload(to: str, body: str) -> dict[str, Any]:
    return {
        **addressed(to),
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }


def _interactive_payload(to: str, reply: Reply, body: str, list_button: str) -> dict[str, Any]:
    choices = reply.choices
    interactive: dict[str, Any]
    titles = [c.title for c in choices]
    # Meta wants button titles unique; a list has no such rule.
    if (
        len(choices) <= MAX_BUTTONS
        and all(len(t) <= MAX_BUTTON_TITLE for t in titles)
        and len(set(titles)) == len(titles)
    ):
        interactive = {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": c.payload, "title": c.title}} for c in choices
                ]
            },
        }
    else:
        rows: list[dict[str, str]] = []
        for choice in choices[:MAX_LIST_ROWS]:
            row = {"id": choice.payload, "title": choice.title[:MAX_ROW_TITLE]}
            if choice.description:
                row["description"] = choice.description[:MAX_ROW_DESCRIPTION]
            rows.append(row)
        interactive = {
            "type": "list",
            "body": {"text": body},
            "action": {"button": list_button[:MAX_LIST_BUTTON], "sections": [{"rows": rows}]},
        }
    return {
        **addressed(to),
        "type": "interactive",
        "interactive": interactive,
    }


def _file_kind(file: OutgoingFile) -> tuple[str, str]:
    mime_type = mimetypes.guess_type(file.file_name)[0] or "application/octet-stream"
    if file.kind == "photo" and mime_type in IMAGE_MIME_TYPES:
        return "image", mime_type
    if mime_type not in DOCUMENT_MIME_TYPES and mime_type.startswith("text/"):
        mime_type = "text/plain"
    return "document", mime_type


def render_reply(to: str, reply: Reply, list_button: str) -> list[Part]:
    """The WhatsApp messages for one reply, in the order the user should read them.

    Text comes first, then a file, then the choices, so the buttons sit at the bottom of the
    chat where the user's thumb is. ``list_button`` labels the button that opens a list.
    """
    parts: list[Part] = []
    text = reply.text.strip()
    caption: str | None = None
    if reply.file is not None:
        caption = reply.file.caption
        if caption is None and text and not reply.choices and len(text) <= MAX_CAPTION:
            caption, text = text, ""  # a short text travels as the file's caption
        elif caption is not None and len(caption) > MAX_CAPTION:
            parts.extend(MessagePart(text_payload(to, p)) for p in split_text(caption))
            caption = None
    if reply.choices:
        lead, body = interactive_body(text) if text else ("", "")
        parts.extend(MessagePart(text_payload(to, p)) for p in split_text(lead))
        if reply.file is not None:
            kind, mime_type = _file_kind(reply.file)
            parts.append(FilePart(to, kind, reply.file, mime_type, caption))
        # An interactive message needs a body; "…" stands in only if the core sent none.
        parts.append(MessagePart(_interactive_payload(to, reply, body or "…", list_button)))
        return parts
    parts.extend(MessagePart(text_payload(to, p)) for p in split_text(text))
    if reply.file is not None:
        kind, mime_type = _file_kind(reply.file)
        parts.append(FilePart(to, kind, reply.file, mime_type, caption))
    return parts


def media_payload(part: FilePart, media_id: str) -> dict[str, Any]:
    """The message body of an uploaded file."""
    media: dict[str, Any] = {"id": media_id}
    if part.caption:
        media["caption"] = part.caption
    if part.kind == "document":
        media["filename"] = part.file.file_name
    return {
        **addressed(part.to),
        "type": part.kind,
        part.kind: media,
    }
