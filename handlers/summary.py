"""``/rekap``: the digest on demand, for the OPDs the asker may see.

Bappeda officers and admins get the whole Pemda, a coordinator their own OPDs (the scope
comes from handlers/access.py ``visible_opds``), as the text and the chart image.
"""

from __future__ import annotations

import asyncio

from handlers.access import load_roles, visible_opds
from handlers.context import StepContext
from handlers.flow import Transition
from handlers.messages import OutgoingFile, Reply
from reports.chart import chart_file
from reports.digest import build_digest, digest_text, week_label
from storage.queries import opds_by_id


async def summary_command(ctx: StepContext, args: str) -> Transition:
    await load_roles(ctx.session, ctx.user)
    scope = visible_opds(ctx.user)
    label = None
    if scope is not None:
        opds = await opds_by_id(ctx.session, scope)
        label = ", ".join(sorted(o.short_name for o in opds.values())) or "-"
    digest = await build_digest(
        ctx.session, scope=scope, moment=ctx.now, tz=ctx.timezone, scope_label=label
    )
    # Drawing takes a quarter of a second: off the event loop, other chats go on meanwhile.
    chart = await asyncio.to_thread(chart_file, digest.figures, ctx.t)
    caption = ctx.t("digest.caption", week=week_label(digest, ctx.t))
    return Transition(
        say=[
            Reply(digest_text(digest, ctx.t)),
            Reply(caption, file=OutgoingFile("photo", chart, chart.name)),
        ]
    )
