"""What a channel raises when a send does not go out, so the sender records why.

``sent`` counts the messages of the row that did go out before the failure, so a retry
starts after them instead of repeating them.
"""

from __future__ import annotations


class SendError(Exception):
    def __init__(self, reason: str, *, sent: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class RateLimited(SendError):
    """The channel asked us to wait (Telegram's 429 ``retry_after``, Meta's throughput)."""

    def __init__(self, retry_after: float, *, sent: int = 0) -> None:
        super().__init__(f"rate limited for {retry_after:.1f} s", sent=sent)
        self.retry_after = retry_after


class Transient(SendError):
    """May pass: a timeout, a 5xx, a broken connection. Retried with backoff."""


class Permanent(SendError):
    """Will not pass: a bad request, an unknown chat."""


class Blocked(SendError):
    """The person blocked the bot (or left): recorded, nothing more is sent there."""


class NoTemplate(SendError):
    """WhatsApp's 24-hour window is closed and no approved template fits."""
