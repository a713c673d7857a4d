"""The typed context a step receives: the session, the person, the translator, the services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Translator
from handlers.messages import Delivery
from handlers.ports import SimilarityService
from storage.models import Identity, User


@dataclass
class StepContext:
    """Everything a step may use. Work to do after the commit goes in ``after_commit``."""

    session: AsyncSession
    user: User
    identity: Identity
    t: Translator
    similarity: SimilarityService
    timezone: ZoneInfo
    now: datetime
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def set_locale(self, locale: str) -> None:
        self.user.locale = locale
        self.t = Translator(locale)
