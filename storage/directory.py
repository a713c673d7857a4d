"""Imported innovation directories: adding entries once, and reading them for the similarity
index and for intake's duplicate question."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DirectoryEntry

DOC_PREFIX = "dir:"
_CHUNK = 500


@dataclass(frozen=True)
class NewEntry:
    """One row of a directory file, already checked."""

    source_row: int
    name: str
    description: str
    region: str | None = None
    year: int | None = None
    agency: str | None = None
    url: str | None = None

    @property
    def content_hash(self) -> str:
        """What the entry says, spacing and case aside; not the file or the row it came from."""
        parts = (
            self.name,
            self.description,
            self.region or "",
            str(self.year or ""),
            self.agency or "",
        )
        text = "\x1f".join(" ".join(p.split()).casefold() for p in parts)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Added:
    added: int
    already_there: int  # in the database before, or repeated in the file


async def add_entries(
    session: AsyncSession, source: str, entries: Sequence[NewEntry], now: datetime
) -> Added:
    """Add the entries not stored yet (by content hash); the caller commits or rolls back."""
    by_hash: dict[str, NewEntry] = {}
    for entry in entries:
        by_hash.setdefault(entry.content_hash, entry)
    hashes = list(by_hash)
    known: set[str] = set()
    for start in range(0, len(hashes), _CHUNK):
        chunk = hashes[start : start + _CHUNK]
        known.update(
            await session.scalars(
                select(DirectoryEntry.content_hash).where(DirectoryEntry.content_hash.in_(chunk))
            )
        )
    fresh = [(h, e) for h, e in by_hash.items() if h not in known]
    session.add_all(
        DirectoryEntry(
            source=source[:255],
            source_row=entry.source_row,
            region=entry.region,
            year=entry.year,
            name=entry.name,
            description=entry.description,
            agency=entry.agency,
            url=entry.url,
            content_hash=content_hash,
            imported_at=now,
        )
        for content_hash, entry in fresh
    )
    await session.flush()
    return Added(added=len(fresh), already_there=len(entries) - len(fresh))


async def directory_documents(
    session: AsyncSession, after_id: int = 0
) -> list[tuple[int, str, str]]:
    """(id, name, description) of entries with an id above ``after_id``, by id."""
    rows = await session.execute(
        select(DirectoryEntry.id, DirectoryEntry.name, DirectoryEntry.description)
        .where(DirectoryEntry.id > after_id)
        .order_by(DirectoryEntry.id)
    )
    return [(i, name, description) for i, name, description in rows]


async def entries_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, DirectoryEntry]:
    if not ids:
        return {}
    rows = await session.scalars(select(DirectoryEntry).where(DirectoryEntry.id.in_(list(ids))))
    return {e.id: e for e in rows}


def origin(entry: DirectoryEntry) -> str | None:
    """Where an entry comes from, as intake shows it: "Kota Bima, 2022", "2021", or None."""
    parts = [p for p in (entry.region, str(entry.year) if entry.year else None) if p]
    return ", ".join(parts) or None
