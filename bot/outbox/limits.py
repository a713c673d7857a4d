"""Channel rate limits, kept by the sender (and told about the replies channels send).

Telegram: about 30 messages a second overall, one a second per chat, 20 a minute per group;
WhatsApp Cloud API: 80 a second per number. Counted in sliding windows with a small margin.

A send counts from when its answer came back, and holds its place while it is in flight:
Telegram counts arrivals, and an arrival lies between our request and its answer, so
spacing requests by answers bounds what Telegram sees whatever the network's jitter
(spacing them by when they left let a slow request and a fast one arrive together).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MARGIN = 0.02  # windows a little longer than the channel's, for the clocks' differences
# The overall window's own margin is only the clocks' granularity: counting a send from its
# answer already spaces what Telegram sees by a whole round trip more than the window (the
# bench showed 2 % of the budget lost to the wider margin on top of that, 1.045 s a cycle).
SECOND_MARGIN = 0.003


@dataclass(frozen=True)
class ChannelLimits:
    per_second: int | None = None  # overall
    per_chat_seconds: float = 0.0  # at least this long between two sends to one chat
    group_per_minute: int | None = None
    is_group: Callable[[str], bool] = lambda _chat: False
    max_in_flight: int = 8  # sends awaiting an answer at once


TELEGRAM_LIMITS = ChannelLimits(
    per_second=30,
    per_chat_seconds=1.0,
    group_per_minute=20,
    is_group=lambda chat: chat.startswith("-"),  # Telegram's group and channel ids
)
WHATSAPP_LIMITS = ChannelLimits(per_second=80, per_chat_seconds=0.0, max_in_flight=32)
UNLIMITED = ChannelLimits()


class RateLimiter:
    """When the next send to a chat may start, on a monotonic clock."""

    def __init__(self, limits: ChannelLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._recent: deque[float] = deque()  # when recent sends were answered
        self._in_flight = 0
        self._chats_in_flight: set[str] = set()
        self._chat_last: dict[str, float] = {}
        self._groups: dict[str, deque[float]] = {}
        self._paused_until = 0.0

    def delay(self, chat: str, *, spacing: bool = True) -> float:
        """Seconds to wait before a send to ``chat`` (0: now).

        ``spacing=False`` for a reply to a person's own message: it skips the per-chat
        spacing (the channels send those straight after the commit without it, and
        Telegram allows a reply burst in a chat), but counts against the overall budget."""
        now = self._clock()
        wait = max(0.0, self._paused_until - now)
        limits = self.limits
        if chat in self._chats_in_flight and (limits.per_chat_seconds or self._is_group(chat)):
            wait = max(wait, 0.005)  # the answer to the last one comes first
        if limits.per_second:
            window = 1.0 + SECOND_MARGIN
            while self._recent and now - self._recent[0] >= window:
                self._recent.popleft()
            if len(self._recent) + self._in_flight >= limits.per_second:
                oldest = self._recent[0] + window - now if self._recent else 0.005
                wait = max(wait, oldest, 0.001)
        if self._is_group(chat):
            sent = self._groups.get(chat)
            if sent is not None:
                window = 60.0 * (1 + MARGIN)
                while sent and now - sent[0] >= window:
                    sent.popleft()
                if len(sent) >= (limits.group_per_minute or 0):
                    wait = max(wait, sent[0] + window - now)
        elif limits.per_chat_seconds and spacing:
            last = self._chat_last.get(chat)
            if last is not None:
                wait = max(wait, last + limits.per_chat_seconds * (1 + MARGIN) - now)
        return wait

    def start(self, chat: str) -> None:
        """A send to ``chat`` leaves now: it holds its place until :meth:`done`."""
        self._in_flight += 1
        self._chats_in_flight.add(chat)

    def done(self, chat: str, count: int = 1) -> None:
        """The send started for ``chat`` was answered (``count`` messages, 0 if none went)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._chats_in_flight.discard(chat)
        if count:
            self.note(chat, count)

    def note(self, chat: str, count: int = 1) -> None:
        """Count ``count`` messages sent to ``chat`` and answered now (the sender's, and the
        replies channels send themselves)."""
        now = self._clock()
        for _ in range(count):
            self._recent.append(now)
        if self._is_group(chat):
            self._groups.setdefault(chat, deque()).extend([now] * count)
        elif self.limits.per_chat_seconds:
            self._chat_last[chat] = now
            if len(self._chat_last) > 50_000:
                self._forget(now)

    def pause(self, seconds: float) -> None:
        """Flood control from the channel: nothing goes out for ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _is_group(self, chat: str) -> bool:
        return bool(self.limits.group_per_minute) and self.limits.is_group(chat)

    def _forget(self, now: float) -> None:
        horizon = self.limits.per_chat_seconds * (1 + MARGIN)
        self._chat_last = {c: t for c, t in self._chat_last.items() if now - t < horizon}
