"""The side of ``bot.app.Core`` a channel talks to besides ``handle``, for stand-in cores.

Stand-ins script what the core answers; this gives them the rest with no outbox behind it:
replies count as sent, and a channel's sending side is kept by name.
"""

from __future__ import annotations

from typing import Any


class ChannelSide:
    senders: dict[str, Any]

    def register_channel(self, port: Any) -> None:
        self.senders[port.name] = port

    async def resend_unsent_replies(self, channel: str) -> int:
        return 0

    async def leave_election(self, channel: str) -> None:
        return None

    async def replies_sent(self, outcome: Any, channel: str, chat: str) -> None:
        return None

    async def replies_failed(self, outcome: Any, sent: int, reason: str) -> None:
        failed: list[tuple[int, str]] = self.__dict__.setdefault("failed_replies", [])
        failed.append((sent, reason))

    async def replies_blocked(self, outcome: Any, channel: str, chat: str) -> None:
        await self.mark_blocked(channel, chat)

    async def mark_blocked(self, channel: str, external_id: str) -> None:
        return None
