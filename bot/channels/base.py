"""What every channel offers the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from handlers.messages import Reply, TemplateCall


class Channel(Protocol):
    """A way to reach people: Telegram, WhatsApp, the terminal.

    A channel turns its updates into :class:`handlers.messages.Incoming`, hands them to the
    engine, and renders the :class:`handlers.messages.Reply` list the engine returns.
    """

    name: str

    def add_routes(self, app: web.Application) -> None:
        """Contribute webhook routes to the shared aiohttp server (none for polling)."""

    async def start(self) -> None:
        """Begin receiving (polling, or registering a webhook)."""

    async def stop(self) -> None:
        """Stop receiving and finish work in flight."""

    async def send(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        """Deliver bot-initiated replies to one identity of this channel.

        ``template`` is what to send instead where the channel forbids free text (WhatsApp
        outside the 24-hour window); channels without that rule ignore it.
        """
