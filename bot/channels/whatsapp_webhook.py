"""Webhook requests from Meta: signature check, the declared shape, and storable units.

One POST may carry several messages and status callbacks, for several people. Each becomes a
unit stored under its own key (the message id, or the status with its message id), so a
message Meta delivers twice is stored, and processed, once.

Every part SASI reads is checked against a declared shape (pydantic models, strict: no
coercion) before anything is stored for processing. A part that does not fit is a *rejected*
unit: stored for inspection and never processed (``InboundStore.set_aside``). Ids that go
into URLs or recipients are checked for form here too, so nothing downstream has to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
MAX_KEY_LENGTH = 128  # inbound_updates.update_key
STATUS_LANE = "~statuses"

MEDIA_TYPES = frozenset({"image", "document"})

# A phone number as Meta writes it in ``from`` / ``wa_id``: digits only, country code first.
PHONE_PATTERN = r"^[0-9]{5,20}$"
# A business-scoped user id: ISO country code, a dot, up to 128 letters and digits (a parent
# BSUID has "ENT." after the country code).
BSUID_PATTERN = r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$"
_BSUID = re.compile(BSUID_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
# Meta's ids (wamid.…, base64 with + / =) and media ids (digits): no spaces, no "..".
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9._=+/-]{1,256}$"
MEDIA_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

PhoneNumber = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]
Bsuid = Annotated[str, StringConstraints(pattern=BSUID_PATTERN)]
MessageId = Annotated[str, StringConstraints(pattern=MESSAGE_ID_PATTERN)]
MediaId = Annotated[str, StringConstraints(pattern=MEDIA_ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=4096)]


def is_bsuid(address: str) -> bool:
    """Whether a WhatsApp address is a business-scoped user id (else a phone number)."""
    return bool(_BSUID.match(address))


def is_address(value: object) -> bool:
    """A well-formed WhatsApp address: a phone number or a BSUID."""
    return isinstance(value, str) and bool(_PHONE.match(value) or _BSUID.match(value))


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


# -- the declared shape ----------------------------------------------------------------------


class _Shape(BaseModel):
    # Strict: a number where a string belongs is wrong, not converted. Unknown fields are
    # kept (Meta adds fields over time) but never read.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Profile(_Shape):
    name: ShortText | None = None
    username: ShortText | None = None


class Contact(_Shape):
    profile: Profile | None = None
    wa_id: PhoneNumber | None = None
    user_id: Bsuid | None = None


class TextPart(_Shape):
    body: str


class ReplyPart(_Shape):
    id: str
    title: str | None = None
    description: str | None = None


class InteractivePart(_Shape):
    type: str
    button_reply: ReplyPart | None = None
    list_reply: ReplyPart | None = None


class ButtonPart(_Shape):
    payload: str | None = None
    text: str | None = None


class MediaPart(_Shape):
    id: MediaId
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None


class MessageShape(_Shape):
    id: MessageId
    from_: PhoneNumber | None = Field(default=None, alias="from")
    from_user_id: Bsuid | None = None
    type: str
    text: TextPart | None = None
    interactive: InteractivePart | None = None
    button: ButtonPart | None = None
    image: MediaPart | None = None
    document: MediaPart | None = None


class ErrorData(_Shape):
    details: str | None = None


class StatusError(_Shape):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None


class StatusShape(_Shape):
    id: MessageId
    status: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    timestamp: str | None = None
    recipient_id: PhoneNumber | None = None
    recipient_user_id: Bsuid | None = None
    errors: list[StatusError] | None = None


class Metadata(_Shape):
    phone_number_id: str


class ValueShape(_Shape):
    metadata: Metadata
    # Checked one by one below, so one bad message does not take its neighbours with it.
    contacts: list[Any] | None = None
    messages: list[Any] | None = None
    statuses: list[Any] | None = None


class ChangeShape(_Shape):
    field: str
    value: Any = None  # its shape depends on ``field``; only "messages" is read


class EntryShape(_Shape):
    changes: list[ChangeShape] | None = None


class Envelope(_Shape):
    object: str
    entry: list[EntryShape]


def _problem(exc: ValidationError) -> str:
    """A short description of what did not fit, without the values (they may be personal)."""
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['type']}"
        for error in exc.errors(include_url=False, include_input=False)[:3]
    ]
    return "unexpected shape (" + "; ".join(parts) + ")"


@dataclass(frozen=True)
class Unit:
    """One message or status from a webhook, stored before the webhook is answered.

    ``lane`` orders processing: units of one lane are handled one after another, in the
    order they arrived; units of different lanes run side by side. A unit with a
    ``problem`` did not fit the declared shape: it is set aside, never processed, and
    ``reply_to`` (when the sender could be read) is told so.
    """

    key: str
    lane: str
    payload: dict[str, Any]
    problem: str | None = None
    reply_to: str | None = None


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _digest_key(prefix: str, value: object) -> str:
    try:
        raw = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        raw = repr(type(value))
    return f"{prefix}:{hashlib.sha256(raw.encode()).hexdigest()[:40]}"


def rejected_body(payload: object, problem: str) -> Unit:
    """A signed body that is not a webhook of the declared shape, as one unit to set aside."""
    stored = payload if isinstance(payload, dict) else {"body": payload}
    return Unit(_digest_key("rejected", payload), "~rejected", stored, problem=problem)


def _sender_of(raw: object) -> tuple[str | None, str | None]:
    """(phone, bsuid) of a raw message when well formed, else None for each."""
    if not isinstance(raw, Mapping):
        return None, None
    phone = raw.get("from")
    bsuid = raw.get("from_user_id")
    return (
        phone if isinstance(phone, str) and _PHONE.match(phone) else None,
        bsuid if isinstance(bsuid, str) and _BSUID.match(bsuid) else None,
    )


def _message_unit(raw: object, contacts: Mapping[str, dict[str, Any]]) -> Unit | None:
    phone, bsuid = _sender_of(raw)
    address = phone or bsuid
    try:
        message = MessageShape.model_validate(raw)
    except ValidationError as exc:
        raw_id = raw.get("id") if isinstance(raw, Mapping) else None
        key = (
            _key(raw_id)
            if isinstance(raw_id, str) and re.match(MESSAGE_ID_PATTERN, raw_id)
            else _digest_key("rejected", raw)
        )
        return Unit(
            key,
            "~rejected",
            {"kind": "message", "message": raw},
            problem=_problem(exc),
            # Someone to answer only when the message is really theirs (a readable id too).
            reply_to=address if not key.startswith("rejected:") else None,
        )
    if message.from_ is None and message.from_user_id is None:
        return Unit(
            _key(message.id),
            "~rejected",
            {"kind": "message", "message": raw},
            problem="a message without a sender",
        )
    contact = (message.from_user_id and contacts.get(message.from_user_id)) or (
        message.from_ and contacts.get(message.from_)
    )
    assert isinstance(raw, dict)
    return Unit(
        key=_key(message.id),
        lane=message.from_user_id or message.from_ or "",
        payload={"kind": "message", "message": raw, "contact": contact or None},
    )


def _status_unit(raw: object) -> Unit:
    try:
        status = StatusShape.model_validate(raw)
    except ValidationError as exc:
        return Unit(
            _digest_key("rejected", raw),
            "~rejected",
            {"kind": "status", "status": raw},
            problem=_problem(exc),
        )
    assert isinstance(raw, dict)
    return Unit(
        key=_key("status", status.id, status.status),
        # Statuses are bookkeeping: one lane keeps them out of people's way.
        lane=STATUS_LANE,
        payload={"kind": "status", "status": raw},
    )


def units_from_payload(payload: object, phone_number_id: str) -> list[Unit]:
    """The messages and statuses of one webhook body that concern our phone number.

    Parts that do not fit the declared shape come back as units with a ``problem``.
    """
    try:
        envelope = Envelope.model_validate(payload)
    except ValidationError as exc:
        return [rejected_body(payload, _problem(exc))]
    if envelope.object != "whatsapp_business_account":
        log.warning("ignoring a webhook for another kind of object")
        return []
    units: list[Unit] = []
    for entry in envelope.entry:
        for change in entry.changes or ():
            if change.field != "messages":
                continue
            try:
                value = ValueShape.model_validate(change.value)
            except ValidationError as exc:
                units.append(rejected_body({"change": change.value}, _problem(exc)))
                continue
            if value.metadata.phone_number_id != phone_number_id:
                # One Meta app can serve several numbers; the others are not ours to answer.
                log.warning("ignoring a webhook for another phone number")
                continue
            contacts: dict[str, dict[str, Any]] = {}
            for raw_contact in value.contacts or ():
                try:
                    contact = Contact.model_validate(raw_contact)
                except ValidationError as exc:
                    # Only a name is lost: the message itself is still answered.
                    log.warning("ignoring a contact entry: %s", _problem(exc))
                    continue
                assert isinstance(raw_contact, dict)
                for address in (contact.wa_id, contact.user_id):
                    if address:
                        contacts[address] = raw_contact
            for raw in value.messages or ():
                unit = _message_unit(raw, contacts)
                if unit is not None:
                    units.append(unit)
            units.extend(_status_unit(raw) for raw in value.statuses or ())
    return units


def unit_from_stored(update_key: str, payload: Mapping[str, Any] | None) -> Unit:
    """Rebuild a unit stored by an earlier run (replay after a crash).

    Stored by an older version that did not check shapes, it may not fit: then it comes
    back with a ``problem``, to be set aside rather than failing at every start.
    """
    kind = payload.get("kind") if isinstance(payload, Mapping) else None
    stored = dict(payload) if isinstance(payload, Mapping) else {}
    if kind == "message":
        raw = stored.get("message")
        phone, bsuid = _sender_of(raw)
        try:
            message = MessageShape.model_validate(raw)
            contact = stored.get("contact")
            if contact is not None:
                Contact.model_validate(contact)
        except ValidationError as exc:
            return Unit(update_key, "~rejected", stored, _problem(exc), phone or bsuid)
        lane = message.from_user_id or message.from_
        if lane:
            return Unit(update_key, lane, stored)
        return Unit(update_key, "~rejected", stored, "a message without a sender")
    if kind == "status":
        try:
            StatusShape.model_validate(stored.get("status"))
        except ValidationError as exc:
            return Unit(update_key, "~rejected", stored, _problem(exc))
        return Unit(update_key, STATUS_LANE, stored)
    return Unit(update_key, "~rejected", stored, "not a message or a status")


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
    """An inbound message as the channel needs it.

    ``sender`` is the address the message came from, and the one to answer: the phone
    number when Meta gives it, else the business-scoped user id (``bsuid``).
    """

    message_id: str
    sender: str
    sender_name: str | None
    type: str
    text: str | None = None
    choice: str | None = None
    media: MediaRef | None = None
    unsupported: str | None = None
    phone: str | None = None
    bsuid: str | None = None


def parse_message(payload: Mapping[str, Any]) -> ParsedMessage:
    """Read a stored message unit. Types SASI cannot use come back with ``unsupported`` set.

    Raises :class:`pydantic.ValidationError` for a unit that does not fit the shape (never
    the case for a unit from :func:`units_from_payload` without a problem).
    """
    message = MessageShape.model_validate(payload.get("message"))
    raw_contact = payload.get("contact")
    contact = Contact.model_validate(raw_contact) if raw_contact is not None else None
    profile = contact.profile if contact is not None else None
    sender = message.from_ or message.from_user_id
    if sender is None:
        raise ValueError("a message without a sender")
    common: dict[str, Any] = {
        "message_id": message.id,
        "sender": sender,
        "sender_name": (profile.name or profile.username) if profile is not None else None,
        "type": message.type,
        "phone": message.from_,
        "bsuid": message.from_user_id,
    }
    kind = message.type
    if kind == "text":
        return ParsedMessage(**common, text=message.text.body if message.text else "")
    if kind == "interactive":
        interactive = message.interactive
        sub = interactive.type if interactive is not None else None
        reply = getattr(interactive, sub, None) if sub in ("button_reply", "list_reply") else None
        if isinstance(reply, ReplyPart):
            return ParsedMessage(**common, choice=reply.id)
        return ParsedMessage(**common, unsupported=f"interactive.{sub}")
    if kind == "button":
        # A quick-reply button of a template message carries its payload like a choice.
        button = message.button
        payload_text = (button.payload or button.text) if button is not None else None
        return ParsedMessage(**common, choice=payload_text or "")
    if kind in MEDIA_TYPES:
        media = message.image if kind == "image" else message.document
        if media is None:
            return ParsedMessage(**common, unsupported=kind)
        return ParsedMessage(
            **common,
            text=media.caption,
            media=MediaRef(
                kind=kind,
                media_id=media.id,
                mime_type=media.mime_type,
                file_name=media.filename,
                sha256=media.sha256,
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
    """Read a stored status unit (raises :class:`pydantic.ValidationError` if malformed)."""
    status = StatusShape.model_validate(payload.get("status"))
    error = status.errors[0] if status.errors else StatusError()
    timestamp: datetime | None = None
    try:
        timestamp = datetime.fromtimestamp(int(status.timestamp or ""), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        timestamp = None
    details = (error.error_data.details if error.error_data else None) or error.message
    return StatusEvent(
        message_id=status.id,
        # A person known only by username is named by their BSUID.
        recipient=status.recipient_id or status.recipient_user_id,
        status=status.status,
        timestamp=timestamp,
        error_code=error.code if error.code is not None and 0 <= error.code < 2**31 else None,
        error_title=error.title,
        error_details=str(details)[:500] if details else None,
    )
