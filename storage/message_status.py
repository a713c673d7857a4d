"""WhatsApp delivery bookkeeping: the messages SASI sent, and the statuses Meta reported.

Statuses (sent, delivered, read, failed) arrive as webhooks, possibly out of order and
possibly before the send call has returned, so they are kept as their own rows keyed by the
message id and joined to the outgoing message rather than tied to it by a foreign key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime, utcnow

# Later states win when statuses arrive out of order; "failed" always wins.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class OutgoingMessage(Base):
    """A message SASI sent on WhatsApp: its ``wamid``, to whom, and what it was."""

    __tablename__ = "whatsapp_outgoing_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wamid: Mapped[str] = mapped_column(String(128), unique=True)
    recipient: Mapped[str] = mapped_column(String(160), index=True)  # a number or a BSUID
    kind: Mapped[str] = mapped_column(String(20))  # text, interactive, image, document, template
    template_name: Mapped[str | None] = mapped_column(String(100))
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageStatus(Base):
    """One status callback for a message we sent."""

    __tablename__ = "message_statuses"
    __table_args__ = (UniqueConstraint("wamid", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wamid: Mapped[str] = mapped_column(String(128), index=True)
    recipient: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_title: Mapped[str | None] = mapped_column(String(200))
    error_details: Mapped[str | None] = mapped_column(String(500))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
