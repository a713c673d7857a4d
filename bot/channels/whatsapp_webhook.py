"""Webhook requests from Meta: signature check, and splitting a delivery into storable units.

One POST may carry several messages and status callbacks, for several people. Each becomes a
unit stored under its own key (the message id, or the status with its message id), so a
message Meta delivers twice is stored, and processed, once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_KEY_LENGTH = 128  # inbound_updates.update_key

MEDIA_TYPES = frozenset({"image", "document"})


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_is_valid(secret: str, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the HMAC-SHA256 of the raw body with the app secret."""
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    # Compare the whole header in constant time; Meta sends the hex digest in lower case.
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().lower().encode())


@dataclass(frozen=True)
class Unit:
    """One message or status from a webhook, stored before the webhook is answered.

    ``lane`` orders processing: units of one lane are handled one after another, in the
    order they arrived; units of different lanes run side by side.
    """

    key: str
    lane: str
    payload: dict[str, Any]


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def units_from_payload(payload: Mapping[str, Any], phone_number_id: str) -> list[Unit]:
    """The messages and statuses of one webhook body that concern our phone number."""
    units: list[Unit] = []
    if payload.get("object") != "whatsapp_business_account":
        log.warning("ignoring a webhook for object %r", payload.get("object"))
        return units
    for entry in payload.get("entry") or ():
        for change in entry.get("changes") or ():
            if change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            metadata = value.get("metadata") or {}
            if str(metadata.get("phone_number_id", "")) != phone_number_id:
                # One Meta app can serve several numbers; the others are not ours to answer.
                log.warning(
                    "ignoring a webhook for phone number %s", metadata.get("phone_number_id")
                )
                continue
            contacts = {
                str(c.get("wa_id")): c for c in value.get("contacts") or () if c.get("wa_id")
            }
            for message in value.get("messages") or ():
                sender = str(message.get("from", ""))
                message_id = str(message.get("id", ""))
                if not sender or not message_id:
                    log.warning("ignoring a message without sender or id")
                    continue
                units.append(
                    Unit(
                        key=_key(message_id),
                        lane=sender,
                        payload={
                            "kind": "message",
                            "message": message,
                            "contact": contacts.get(sender),
                        },
                    )
                )
            for status in value.get("statuses") or ():
                message_id = str(status.get("id", ""))
                state = str(status.get("status", ""))
                if not message_id or not state:
                    log.warning("ignoring a status without message id or state")
                    continue
                units.append(
                    Unit(
                        key=_key("status", message_id, state),
                        # Statuses are bookkeeping: one lane keeps them out of people's way.
                        lane="~statuses",
                        payload={"kind": "status", "status": status},
                    )
                )
    return units


def unit_from_stored(update_key: str, payload: Mapping[str, Any] | None) -> Unit | None:
    """Rebuild a unit stored by an earlier run (replay after a crash)."""
    if not payload:
        return None
    kind = payload.get("kind")
    if kind == "message":
        sender = str((payload.get("message") or {}).get("from", ""))
        return Unit(update_key, sender, dict(payload)) if sender else None
    if kind == "status":
        return Unit(update_key, "~statuses", dict(payload))
    return None


@dataclass(frozen=True)
class MediaRef:
    """An image or document a user sent; ``media_id`` expires, so it is fetched at once."""

    kind: str  # "image" or "document"
    media_id: str
    mime_type: str | None
    file_name: str | None
    sha256: str | None


@dataclass(frozen=True)
class ParsedMessage:
    """An inbound message as the channel needs it."""

    message_id: str
    sender: str
    sender_name: str | None
    type: str
    text: str | None = None
    choice: str | None = None
    media: MediaRef | None = None
    unsupported: str | None = None


def parse_message(payload: Mapping[str, Any]) -> ParsedMessage:
    """Read a stored message unit. Types SASI cannot use come back with ``unsupported`` set."""
    message: Mapping[str, Any] = payload.get("message") or {}
    contact: Mapping[str, Any] = payload.get("contact") or {}
    kind = str(message.get("type", "unknown"))
    common: dict[str, Any] = {
        "message_id": str(message["id"]),
        "sender": str(message["from"]),
        "sender_name": (contact.get("profile") or {}).get("name"),
        "type": kind,
    }
    if kind == "text":
        return ParsedMessage(**common, text=str((message.get("text") or {}).get("body", "")))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        sub = interactive.get("type")
        if sub in ("button_reply", "list_reply"):
            reply = interactive.get(sub) or {}
            return ParsedMessage(**common, choice=str(reply.get("id", "")))
        return ParsedMessage(**common, unsupported=f"interactive.{sub}")
    if kind == "button":
        # A quick-reply button of a template message carries its payload like a choice.
        button = message.get("button") or {}
        payload_text = button.get("payload") or button.get("text")
        return ParsedMessage(**common, choice=str(payload_text or ""))
    if kind in MEDIA_TYPES:
        media = message.get(kind) or {}
        return ParsedMessage(
            **common,
            text=media.get("caption"),
            media=MediaRef(
                kind=kind,
                media_id=str(media.get("id", "")),
                mime_type=media.get("mime_type"),
                file_name=media.get("filename"),
                sha256=media.get("sha256"),
            ),
        )
    return ParsedMessage(**common, unsupported=kind)


@dataclass(frozen=True)
class StatusEvent:
    """A delivery report for a message we sent."""

    message_id: str
    recipient: str | None
    status: str
    timestamp: datetime | None
    error_code: int | None
    error_title: str | None
    error_details: str | None


def parse_status(payload: Mapping[str, Any]) -> StatusEvent:
    """Read a stored status unit."""
    status: Mapping[str, Any] = payload.get("status") or {}
    errors = status.get("errors") or [{}]
    error: Mapping[str, Any] = errors[0] or {}
    timestamp: datetime | None = None
    try:
        timestamp = datetime.fromtimestamp(int(status.get("timestamp", "")), tz=UTC)
    except (TypeError, ValueError):
        timestamp = None
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details") or error.get("message")
    return StatusEvent(
        message_id=str(status["id"]),
        recipient=status.get("recipient_id"),
        status=str(status["status"]),
        timestamp=timestamp,
        error_code=int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        error_title=error.get("title"),
        error_details=str(details)[:500] if details else None,
    )
