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

from babel.numbers import format_decimal

from bot.config import Settings
from handlers.access import Access, is_allowed, load_roles, visible_opds
from handlers.i18n import Translator
from handlers.messages import OutgoingFile, Reply, TemplateCall
from reports.chart import default_chart_dir
from reports.export import FORMATS, export_ideas
from storage.audit import EXPORT_ACTION, Actor, export_audit, record
from storage.db import Database
from storage.models import User
from storage.outbox import Claimed

log = logging.getLogger(__name__)

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
            remove_generated_files(self.settings.data_dir, self.settings.generated_files_hours)
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
        limit = document_limit(self.settings, row.channel)
        too_large = [f for f in result.files if limit is not None and f.stat().st_size > limit]
        async with self.database.writing(), self.database.sessions() as session, session.begin():
            record(
                session,
                Actor.of(person),
                EXPORT_ACTION,
                f"user:{person.id}",
                after=export_audit(row.channel, fmt, scope, result.ideas)
                | ({"too_large": [f.name for f in too_large]} if too_large else {}),
            )
        caption = t("export.caption", count=t.number(result.ideas), date=f"{now:%d/%m/%Y}")
        replies: list[Reply] = []
        for n, file in enumerate(result.files):
            if file in too_large:
                assert limit is not None
                sizes = {
                    "size": megabytes(t, file.stat().st_size),
                    "limit": megabytes(t, limit),
                    "channel": CHANNEL_NAMES.get(row.channel, row.channel),
                }
                # The file stays on disk no longer than this: nobody will fetch it.
                file.unlink(missing_ok=True)
                replies.append(
                    Reply(t("export.too_large", **sizes))
                    if n == 0
                    else Reply(t("export.too_large_part", name=file.name, **sizes))
                )
                if n == 0:
                    log.warning(
                        "export for outbox row %s is %s, over %s on %s: advice sent instead",
                        row.id, sizes["size"], sizes["limit"], row.channel,
                    )  # fmt: skip
                continue
            text = caption if n == 0 else t("export.caption_inventory")
            replies.append(Reply(text, file=OutgoingFile("document", file, file.name)))
        if not any(reply.file for reply in replies):
            return replies, TemplateCall("export_failed", (name,))
        # WhatsApp past 24 hours cannot carry the file: the template asks for /ekspor again.
        return replies, TemplateCall("export_ready", (name, t.number(result.ideas)))


CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}


def document_limit(settings: Settings, channel: str) -> int | None:
    """The largest document ``channel`` takes, in bytes; None where there is no limit (the
    terminal hands over a path)."""
    return {
        "telegram": settings.telegram_document_limit,
        "whatsapp": settings.whatsapp_document_limit,
    }.get(channel)


def megabytes(t: Translator, size: int) -> str:
    return f"{format_decimal(size / (1024 * 1024), format='#,##0.0', locale=t.locale)} MB"


def remove_generated_files(data_dir: Path, hours: float, now: float | None = None) -> int:
    """Remove the charts and export files written for delivery more than ``hours`` ago;
    how many files went. A send retried within that time finds its file (an export is built
    again at each try anyway, a chart drawn again when missing)."""
    horizon = (time.time() if now is None else now) - hours * 3600
    removed = 0
    for folder in (data_dir / "exports", data_dir / "charts", default_chart_dir()):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            try:
                if entry.stat().st_mtime >= horizon:
                    continue
                if entry.is_dir():
                    for file in entry.iterdir():
                        file.unlink(missing_ok=True)
                        removed += 1
                    entry.rmdir()
                else:
                    entry.unlink(missing_ok=True)
                    removed += 1
            except OSError:
                log.warning("could not remove the old generated file %s", entry.name)
    return removed
