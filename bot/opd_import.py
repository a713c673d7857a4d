"""``python -m bot import-opd FILE.csv``: load a Pemda's OPD list (columns ``name``,
optional ``short_name``). Existing OPDs are updated by name, nothing is deleted."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from handlers.messages import MAX_CHOICE_TITLE
from handlers.text import one_line, shorten
from storage.db import Database
from storage.models import Opd


class OpdFileError(ValueError):
    """The file cannot be read as an OPD list; the message says why."""


@dataclass(frozen=True)
class OpdRow:
    name: str
    short_name: str


def read_opd_csv(path: Path) -> list[OpdRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise OpdFileError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise OpdFileError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from exc
    sample = text[:2048]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "name" not in fields:
        raise OpdFileError(f"{path}: needs a 'name' column (found: {', '.join(fields) or 'none'})")
    rows: list[OpdRow] = []
    seen: set[str] = set()
    for raw in reader:
        row = {(k or "").strip().lower(): (v or "") for k, v in raw.items()}
        name = one_line(row.get("name", ""))
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        short = one_line(row.get("short_name", "")) or name
        rows.append(OpdRow(name=name[:200], short_name=shorten(short, MAX_CHOICE_TITLE)))
    if not rows:
        raise OpdFileError(f"{path}: no OPD rows")
    return rows


async def import_opds(database: Database, rows: list[OpdRow]) -> tuple[int, int]:
    """Insert new OPDs and update short names of known ones. Returns (added, updated)."""
    added = updated = 0
    async with database.writing(), database.sessions() as session, session.begin():
        existing = {o.name.lower(): o for o in await session.scalars(select(Opd))}
        for row in rows:
            opd = existing.get(row.name.lower())
            if opd is None:
                session.add(Opd(name=row.name, short_name=row.short_name))
                added += 1
            elif opd.short_name != row.short_name:
                opd.short_name = row.short_name
                updated += 1
    return added, updated
