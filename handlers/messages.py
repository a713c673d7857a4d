"""The channel-agnostic message types: what a channel hands the core, and what the core answers.

A channel turns its own update into an :class:`Incoming` and renders each :class:`Reply` in its
own way (inline keyboards on Telegram, reply buttons or lists on WhatsApp, numbered lines in the
terminal). The limits below are WhatsApp's, the tightest of the channels, so every reply the core
builds renders everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MAX_CHOICES = 10
MAX_CHOICE_TITLE = 24
MAX_CHOICE_DESCRIPTION = 72
MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit

AttachmentKind = Literal["photo", "document"]
ChatKind = Literal["private", "group"]


@dataclass(frozen=True)
class Attachment:
    """A file the user sent, already downloaded by the channel to local storage."""

    kind: AttachmentKind
    path: Path
    file_name: str
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Incoming:
    """One message from a person, as any channel sees it.

    ``channel`` and ``sender_id`` identify the channel identity (a Telegram user id, a WhatsApp
    number, a terminal name). ``choice`` is the payload of a pressed button. ``unsupported``
    names a message type the core cannot use (``"sticker"``, ``"location"`` …), so it can answer
    politely and stay where it was. ``update_key`` lets the engine process a redelivered update
    only once.
    """

    channel: str
    sender_id: str
    text: str | None = None
    choice: str | None = None
    attachments: tuple[Attachment, ...] = ()
    unsupported: str | None = None
    sender_name: str | None = None
    language_code: str | None = None
    update_key: str | None = None
    chat_kind: ChatKind = "private"
    too_large: bool = False  # the channel refused to download an attachment past its limit
    failed: bool = False  # the channel could not process the person's message (set aside)
    reply_to: str | None = None  # the chat to answer when it is not the sender's (a group)


@dataclass(frozen=True)
class Choice:
    """One button. ``title`` fits everywhere; ``label`` is the full text where room allows."""

    payload: str
    title: str
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("a choice needs a title")
        if len(self.title) > MAX_CHOICE_TITLE:
            raise ValueError(f"choice title over {MAX_CHOICE_TITLE} characters: {self.title!r}")
        if len(self.payload.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"choice payload over {MAX_PAYLOAD_BYTES} bytes: {self.payload!r}")

    @property
    def description(self) -> str | None:
        """The full label when it says more than the title (a WhatsApp list row's description)."""
        if self.label and self.label != self.title:
            return self.label[:MAX_CHOICE_DESCRIPTION]
        return None


@dataclass(frozen=True)
class OutgoingFile:
    """A document or photo the core wants to send."""

    kind: AttachmentKind
    path: Path
    file_name: str
    caption: str | None = None


@dataclass(frozen=True)
class Reply:
    """One message from the core: plain text (channels escape it), choices, or a file."""

    text: str
    choices: tuple[Choice, ...] = ()
    file: OutgoingFile | None = None

    def __post_init__(self) -> None:
        if len(self.choices) > MAX_CHOICES:
            raise ValueError(f"a reply carries at most {MAX_CHOICES} choices")
        payloads = [c.payload for c in self.choices]
        if len(set(payloads)) != len(payloads):
            raise ValueError("choice payloads must be unique within a reply")


@dataclass(frozen=True)
class TemplateCall:
    """How to start a conversation where free text is not allowed (WhatsApp past 24 hours).

    ``purpose`` names an approved template in the channel's configuration; ``parameters`` fill
    its placeholders in order. Channels without such a rule ignore it.
    """

    purpose: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """Replies for someone other than the sender (e.g. a one-time code on another channel).

    They go through the outbox, committed with the step that made them. ``sensitive``
    content (a one-time code) is wiped from the outbox once sent.
    """

    channel: str
    external_id: str
    replies: tuple[Reply, ...]
    template: TemplateCall | None = None
    kind: str = "message"
    sensitive: bool = False
    # Work the sender does just before sending, instead of fixed replies: e.g.
    # ``{"kind": "export", ...}`` builds a file outside the step's transaction.
    notice: dict[str, Any] | None = None
    user_id: int | None = None  # whom it is for, when a ``notice`` needs the person


@dataclass
class Outcome:
    """What the engine answers for one incoming message."""

    replies: list[Reply] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    duplicate: bool = False  # the update was processed before; nothing was done
    reply_id: int | None = None  # the outbox row of ``replies``: mark it sent once sent
    delivery_keys: tuple[str, ...] = ()  # the outbox rows of ``deliveries``
    # The replies were committed for the elected outbox sender of another replica to send:
    # the channel must not send them itself.
    queued: bool = False


# -- JSON, for the outbox ----------------------------------------------------------------------


def reply_to_json(reply: Reply) -> dict[str, Any]:
    data: dict[str, Any] = {"text": reply.text}
    if reply.choices:
        data["choices"] = [
            {"payload": c.payload, "title": c.title, "label": c.label} for c in reply.choices
        ]
    if reply.file is not None:
        data["file"] = {
            "kind": reply.file.kind,
            "path": str(reply.file.path),
            "file_name": reply.file.file_name,
            "caption": reply.file.caption,
        }
    return data


def reply_from_json(data: dict[str, Any]) -> Reply:
    file = data.get("file")
    return Reply(
        text=str(data.get("text", "")),
        choices=tuple(
            Choice(payload=str(c["payload"]), title=str(c["title"]), label=c.get("label"))
            for c in data.get("choices") or ()
        ),
        file=OutgoingFile(
            kind=file["kind"],
            path=Path(file["path"]),
            file_name=str(file["file_name"]),
            caption=file.get("caption"),
        )
        if file
        else None,
    )


def template_to_json(template: TemplateCall | None) -> dict[str, Any] | None:
    if template is None:
        return None
    return {"purpose": template.purpose, "parameters": list(template.parameters)}


def template_from_json(data: dict[str, Any] | None) -> TemplateCall | None:
    if not data:
        return None
    return TemplateCall(str(data["purpose"]), tuple(str(p) for p in data.get("parameters", ())))


def outbox_payload(
    replies: Sequence[Reply], template: TemplateCall | None = None, *, sensitive: bool = False
) -> dict[str, Any]:
    """What an outbox row keeps: the replies, the template for a closed window, and whether
    to forget it all once sent."""
    payload: dict[str, Any] = {
        "replies": [reply_to_json(r) for r in replies],
        "template": template_to_json(template),
    }
    if sensitive:
        payload["sensitive"] = True
    return payload


def coalesce(replies: Sequence[Reply], limit: int = 4096) -> list[Reply]:
    """Join runs of plain replies into the reply that follows them.

    The core often says two things at once ("Cancelled." then the menu); a chat app shows
    them best as one message with the buttons under it: one notification instead of two, one
    request instead of two. Choices and files end a run; nothing longer than ``limit``
    characters is made.
    """
    merged: list[Reply] = []
    for reply in replies:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and not previous.choices
            and previous.file is None
            and reply.file is None  # a file's caption is short: keep the text on its own
            and len(previous.text) + 2 + len(reply.text) <= limit
        ):
            merged[-1] = Reply(text=f"{previous.text}\n\n{reply.text}", choices=reply.choices)
        else:
            merged.append(reply)
    return merged
