"""``/dasbor`` (``/dashboard``): a one-time link to the Bappeda dashboard, in a private chat.

The step only queues the request; the link itself is made by the outbox sender just before
it is sent (bot/dashboard/link_delivery.py), which knows the public address and the signing
key, so the token never sits in the outbox and its ten minutes start when it is sent. The
row is marked sensitive: the sender forgets it once delivered.
"""

from __future__ import annotations

from typing import Any

from handlers.context import StepContext
from handlers.flow import Transition
from handlers.messages import Delivery, Reply

LINK_KIND = "dashboard_link"


def link_notice() -> dict[str, Any]:
    return {"kind": LINK_KIND}


async def dashboard_command(ctx: StepContext, args: str) -> Transition:
    ctx.deliveries.append(
        Delivery(
            channel=ctx.identity.channel,
            external_id=ctx.identity.external_id,
            replies=(),
            kind=LINK_KIND,
            sensitive=True,
            notice=link_notice(),
            user_id=ctx.user.id,
        )
    )
    return Transition(say=[Reply(ctx.t("dashboard.link_coming"))])
