"""A digest push that Bappeda's system keeps refusing is told, once, to the people who can fix it.

The push itself keeps retrying through the outbox until it is accepted (bot/push/sender.py);
nothing is given up. But a receiver that has refused for ``SASI_PUSH_ALERT_HOURS`` (24 by
default) since the digest fell due is broken, and a retry loop nobody hears of helps no one:
every Bappeda chat and officer and every admin gets one message through the outbox, keyed
``push-stuck:<push key>:<channel>:<chat>`` so later failures add nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.config import Settings
from bot.scheduler.digest import recipients
from handlers.i18n import Translator
from handlers.messages import Reply, reply_to_json
from storage.db import Database
from storage.models import Role, User, UserRole
from storage.outbox import Claimed, NewMessage, add_messages
from storage.queries import preferred_identity

log = logging.getLogger(__name__)

STUCK_KIND = "push_stuck"
STUCK_PREFIX = "push-stuck:"
PRIORITY = 3  # before digests and reminders: someone has to act


def stuck_since(row: Claimed) -> datetime | None:
    """When the push fell due: the body's ``generated_at`` (frozen when the row was made;
    the row's own due time moves with every retry)."""
    try:
        text = json.loads(row.payload.get("body") or "{}").get("generated_at")
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except (ValueError, TypeError, AttributeError):
        return None


class StuckPushAlert:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def __call__(self, row: Claimed, reason: str, now: datetime) -> int:
        """Queue the alert when ``row`` has been refused long enough; how many rows were new
        (0 once everyone was told)."""
        since = stuck_since(row)
        if since is None or now - since < timedelta(hours=self.settings.push_alert_hours):
            return 0
        settings = self.settings
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            people: list[tuple[str, str, int | None]] = await recipients(session, settings)
            admins = await session.scalars(
                select(UserRole.user_id)
                .join(User, User.id == UserRole.user_id)
                .where(UserRole.role == Role.ADMIN, User.registered_at.is_not(None))
                .distinct()
            )
            known = {(c, chat) for c, chat, _ in people}
            for admin_id in sorted(set(admins)):
                identity = await preferred_identity(session, admin_id)
                if identity is not None and (identity.channel, identity.external_id) not in known:
                    people.append((identity.channel, identity.external_id, admin_id))
            week = str(json.loads(row.payload["body"]).get("week", ""))
            messages = []
            for channel, chat, person_id in people:
                person = await session.get(User, person_id) if person_id else None
                t = Translator((person.locale if person else None) or settings.locale)
                local = since.astimezone(settings.tz)
                text = t(
                    "push.stuck",
                    week=week,
                    url=settings.bappeda_push_url or row.recipient,
                    since=f"{local:%d/%m/%Y %H:%M}",
                    attempts=t.number(row.attempts + 1),
                    reason=reason[:200],
                )
                messages.append(
                    NewMessage(
                        key=f"{STUCK_PREFIX}{row.key}:{channel}:{chat}"[:160],
                        kind=STUCK_KIND,
                        channel=channel,
                        recipient=chat,
                        payload={"replies": [reply_to_json(Reply(text))]},
                        due_at=now,
                        user_id=person_id,
                        priority=PRIORITY,
                    )
                )
            added = await add_messages(session, messages)
        if added:
            log.error(
                "digest push %s refused since %s (%s): %d alert(s) queued",
                row.key, since.isoformat(), reason, added,
            )  # fmt: skip
        return added
