"""Telling an idea's people what a reviewer decided, in each person's own language.

The notices go through the outbox with the step that made them (``ctx.deliveries``); on
WhatsApp outside the 24-hour window the approved ``review_update`` template goes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from handlers.context import StepContext
from handlers.i18n import DEFAULT_LOCALE, Translator
from handlers.messages import Choice, Delivery, Reply, TemplateCall
from storage.models import Idea, User
from storage.queries import preferred_identity

KIND = "review_notice"
TEMPLATE = "review_update"


def people_of(idea: Idea) -> list[int]:
    """The owner first, then the collaborators, each once."""
    people = [idea.owner_id] if idea.owner_id is not None else []
    return people + [c.user_id for c in idea.collaborators if c.user_id not in people]


async def tell(
    ctx: StepContext,
    idea: Idea,
    user_ids: Iterable[int],
    key: str,
    outcome_key: str,
    *,
    choices: Callable[[Translator], tuple[Choice, ...]] | None = None,
    template: Callable[[Translator, User], TemplateCall] | None = None,
    kind: str = KIND,
    **values: object,
) -> int:
    """Queue ``key`` for each person (never the reviewer themselves); returns how many were
    reachable. ``outcome_key`` names the outcome in the ``review_update`` template's short
    form; ``template`` replaces that template, ``choices`` adds buttons in each language."""
    told = 0
    by = ctx.user.full_name or ""
    for user_id in dict.fromkeys(user_ids):
        if user_id == ctx.user.id:
            continue
        user = await ctx.session.get(User, user_id)
        identity = await preferred_identity(ctx.session, user_id)
        if user is None or identity is None:
            continue
        t = Translator(user.locale or DEFAULT_LOCALE)
        text = t(key, id=idea.id, idea=idea.name, by=by, **values)
        ctx.deliveries.append(
            Delivery(
                channel=identity.channel,
                external_id=identity.external_id,
                replies=(Reply(text, choices=choices(t) if choices else ()),),
                template=template(t, user)
                if template
                else TemplateCall(TEMPLATE, (user.full_name or "", idea.name, t(outcome_key))),
                kind=kind,
            )
        )
        told += 1
    return told
