"""``/ekspor``'s file, built by the outbox sender just before it is sent.

The chat step only queues the request (an outbox row whose payload names the format): building
a directory of many thousand ideas takes seconds, and inside the step it would hold the
person's lock and, on SQLite, every other writer. Here it runs on its own read session. The
scope is decided now, from the person's roles of the moment: a coordinator gets their OPDs,
Bappeda everything, and someone whose role was revoked meanwhile gets nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from handlers.access import Access, is_allowed, load_roles, visible_opds
from handlers.i18n import Translator
from handlers.messages import OutgoingFile, Reply, TemplateCall
from reports.export import FORMATS, export_ideas
from storage.db import Database
from storage.models import User
from storage.outbox import Claimed

log = logging.getLogger(__name__)

KEEP_FILES_SECONDS = 24 * 3600  # a retried send within a day finds its file; older ones go

Composed = tuple[list[Reply], TemplateCall | None]


class ExportComposer:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.directory = settings.data_dir / "exports"

    async def compose(self, row: Claimed) -> Composed | None:
        """The file(s) as replies; None when the person may no longer export."""
        spec: dict[str, Any] = row.payload["notice"]
        fmt = spec.get("format")
        if fmt not in FORMATS:
            return None
        now = datetime.now(self.settings.tz)
        async with self.database.sessions() as session:
            person = await session.get(User, row.user_id) if row.user_id else None
            if person is None:
                return None
            await load_roles(session, person)
            if not is_allowed(person, Access.COORDINATOR):
                return None
            t = Translator(person.locale or self.settings.locale)
            scope = visible_opds(person)
            name = person.full_name or ""
            if scope is not None and not scope:
                return [Reply(t("export.no_opd"))], TemplateCall("export_failed", (name,))
            self._remove_old_files()
            stem = f"direktori-inovasi-{now:%Y%m%d-%H%M}"
            path = self.directory / str(row.id) / f"{stem}.{fmt}"
            started = time.perf_counter()
            try:
                result = await export_ideas(
                    session, path, fmt, scope=scope, locale=t.locale, timezone=self.settings.tz
                )
            except Exception:
                # Log first, then tell the person, rather than retry a failing export forever.
                log.exception("export for outbox row %s failed", row.id)
                return [Reply(t("export.failed"))], TemplateCall("export_failed", (name,))
        log.info(
            "export %s of %d ideas for outbox row %s in %.1f s",
            fmt,
            result.ideas,
            row.id,
            time.perf_counter() - started,
        )
        caption = t("export.caption", count=t.number(result.ideas), date=f"{now:%d/%m/%Y}")
        replies = [Reply(caption, file=OutgoingFile("document", path, path.name))]
        for extra in result.files[1:]:
            replies.append(
                Reply(
                    t("export.caption_inventory"),
                    file=OutgoingFile("document", extra, extra.name),
                )
            )
        # WhatsApp past 24 hours cannot carry the file: the template asks for /ekspor again.
        return replies, TemplateCall("export_ready", (name, t.number(result.ideas)))

    def _remove_old_files(self) -> None:
        if not self.directory.is_dir():
            return
        horizon = time.time() - KEEP_FILES_SECONDS
        for folder in self.directory.iterdir():
            try:
                if folder.stat().st_mtime >= horizon:
                    continue
                for file in folder.iterdir() if folder.is_dir() else ():
                    file.unlink(missing_ok=True)
                if folder.is_dir():
                    folder.rmdir()
                else:
                    folder.unlink(missing_ok=True)
            except OSError:
                log.warning("could not remove an old export in %s", Path(folder).name)
