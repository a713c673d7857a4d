"""``/ekspor`` (``/export``): the Direktori Inovasi as an XLSX or CSV file, sent in the chat.

A coordinator's file holds only their OPDs, Bappeda's every OPD (handlers/access.py decides).
The step only asks for the format and queues the request in the outbox; the file is built
there, just before it is sent (bot/export_delivery.py), so a large directory never holds the
conversation's transaction.
"""

from __future__ import annotations

from typing import Any

from handlers.access import Access, load_roles, visible_opds
from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, choose_option, end, push
from handlers.messages import Delivery, Reply
from storage.queries import opds_by_id

flow = Flow(name="export", first="format", access=Access.COORDINATOR)
FORMATS = ("xlsx", "csv")
PICK = "export:"  # + format


def export_notice(fmt: str) -> dict[str, Any]:
    """What the outbox row asks the sender to build."""
    return {"kind": "export", "format": fmt}


async def _scope_text(ctx: StepContext) -> str | None:
    """How the question names what will be exported; None when there is nothing to export."""
    await load_roles(ctx.session, ctx.user)
    scope = visible_opds(ctx.user)
    if scope is None:
        return ctx.t("export.scope_all")
    if not scope:
        return None
    opds = await opds_by_id(ctx.session, scope)
    names = ", ".join(sorted(o.short_name for o in opds.values()))
    return ctx.t("export.scope_opds", opds=names)


def _queue(ctx: StepContext, fmt: str) -> Reply:
    ctx.deliveries.append(
        Delivery(
            channel=ctx.identity.channel,
            external_id=ctx.identity.external_id,
            replies=(),
            kind="export",
            notice=export_notice(fmt),
            user_id=ctx.user.id,
        )
    )
    return Reply(ctx.t("export.preparing"))


async def export_command(ctx: StepContext, args: str) -> Transition:
    if await _scope_text(ctx) is None:
        return Transition(say=[Reply(ctx.t("export.no_opd"))])
    wanted = args.strip().lower().lstrip(".")
    if wanted in FORMATS:
        return Transition(say=[_queue(ctx, wanted)])
    return push(flow.new_frame())


async def ask_format(ctx: StepContext, frame: Frame) -> Reply:
    scope = await _scope_text(ctx) or ""
    return Reply(
        ctx.t("export.ask_format", scope=scope),
        choices=tuple(choice(f"{PICK}{fmt}", ctx.t(f"export.format.{fmt}")) for fmt in FORMATS),
    )


async def answer_format(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice is None:
        typed = (answer.text or "").strip().lower().lstrip(".")
        if typed in FORMATS and not answer.attachments:
            return end(_queue(ctx, typed))
        return Transition(say=[choose_option(ctx, answer)])
    fmt = answer.choice.removeprefix(PICK)
    if fmt not in FORMATS:
        return Transition(say=[Reply(ctx.t("input.stale_button"))])
    if await _scope_text(ctx) is None:
        return end(Reply(ctx.t("export.no_opd")))
    return end(_queue(ctx, fmt))


flow.add("format", ask_format, answer_format)
