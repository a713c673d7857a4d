"""Command-line exports and imports of the Direktori Inovasi.

``python -m bot export --format xlsx|csv --out FILE [--opd SHORT_NAME] [--locale en]`` and
``python -m bot import-directory FILE``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from bot.config import Settings
from bot.directory_import import DirectoryFileError, import_directory
from reports.export import FORMATS, Format, export_ideas
from storage.db import Database
from storage.migrate import upgrade_to_head_async
from storage.models import Opd


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


async def export(
    settings: Settings, fmt: str, out: Path, opd_names: list[str] | None, locale: str | None
) -> int:
    if fmt not in FORMATS:
        return _error(f"--format is xlsx or csv, not {fmt!r}")
    chosen: Format = "xlsx" if fmt == "xlsx" else "csv"
    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with database.sessions() as session:
            scope: frozenset[int] | None = None
            if opd_names:
                ids = set()
                for name in opd_names:
                    key = name.strip().lower()
                    opd = await session.scalar(
                        select(Opd).where(
                            (func.lower(Opd.short_name) == key) | (func.lower(Opd.name) == key)
                        )
                    )
                    if opd is None:
                        return _error(f"no OPD named {name!r}")
                    ids.add(opd.id)
                scope = frozenset(ids)
            started = time.perf_counter()
            result = await export_ideas(
                session,
                out,
                chosen,
                scope=scope,
                locale=locale or settings.locale,
                timezone=settings.tz,
            )
    finally:
        await database.dispose()
    files = ", ".join(str(p) for p in result.files)
    print(f"{result.ideas} ideas exported to {files} in {time.perf_counter() - started:.1f} s")
    return 0


async def import_directory_file(settings: Settings, path: Path) -> int:
    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        result = await import_directory(database, path)
    except DirectoryFileError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 2
    finally:
        await database.dispose()
    print(
        f"directory {path.name}: {result.added} entries added, "
        f"{result.already_there} already there, {result.rows} rows in the file"
    )
    return 0
