"""``/dasbor``'s link, made by the outbox sender just before it is sent.

The person's roles are read now: someone whose coordinator role was revoked since asking gets
the polite refusal instead of a link.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Settings
from handlers.access import Access, is_allowed, load_roles
from handlers.i18n import Translator
from handlers.messages import Reply, TemplateCall
from storage.dashboard_access import LINK_LIFETIME, create_link, signing_secret
from storage.db import Database
from storage.models import User
from storage.outbox import Claimed

Composed = tuple[list[Reply], TemplateCall | None]
SIGN_IN_PATH = "/dasbor/masuk"
TEMPLATE = "dashboard_link"


class DashboardLinkComposer:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def compose(self, row: Claimed) -> Composed | None:
        if row.user_id is None:
            return None
        now = datetime.now(UTC)
        async with self.database.writing(), self.database.sessions() as session, session.begin():
            person = await session.get(User, row.user_id)
            if person is None:
                return None
            t = Translator(person.locale or self.settings.locale)
            name = person.full_name or ""
            await load_roles(session, person)
            if not is_allowed(person, Access.COORDINATOR):
                return [Reply(t("access.denied"))], TemplateCall(TEMPLATE, (name,))
            secret = await signing_secret(session, self.settings.dashboard_secret)
            token = await create_link(session, secret, person.id, now)
        url = f"{self.settings.public_url}{SIGN_IN_PATH}?t={token}"
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        # Past WhatsApp's 24 hours the link (a secret, short-lived) never goes in a template:
        # the template asks for /dasbor again, and that answer comes inside the window.
        return [Reply(t("dashboard.link_message", url=url, minutes=minutes))], TemplateCall(
            TEMPLATE, (name,)
        )
