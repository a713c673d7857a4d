"""``python -m bot import-directory FILE``: earlier innovation directories into the database.

The file is CSV or XLSX with the columns ``dedup-check`` reads (``name``, ``description``),
and optionally ``region``, ``year``, ``agency`` (or ``opd``) and ``url``; Indonesian headers
(``nama``, ``deskripsi``, ``daerah``, ``tahun``, ``instansi``, ``tautan``) work too. Every bad
row is reported with its number (the header is row 1) and then nothing is imported. Entries
already stored (the same name, description, region, year and agency) are not added again, so
importing the same file twice adds nothing. New ideas are then checked against the entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from bot.table_file import TableFileError, cell_text, find_columns, read_table
from storage.db import Database
from storage.directory import Added, NewEntry, add_entries
from storage.models import utcnow

COLUMNS: dict[str, Iterable[str]] = {
    "name": ("name", "nama", "nama inovasi", "judul"),
    "description": ("description", "deskripsi", "uraian", "keterangan"),
    "region": ("region", "daerah", "pemda", "wilayah", "kabupaten/kota"),
    "year": ("year", "tahun"),
    "agency": ("agency", "opd", "instansi", "perangkat daerah"),
    "url": ("url", "link", "tautan"),
}
REQUIRED = ("name", "description")
LIMITS = {"name": 300, "region": 120, "agency": 200, "url": 500}
YEARS = range(1990, 2101)


class DirectoryFileError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ImportResult:
    rows: int
    added: int
    already_there: int


def _year(value: object) -> int | None:
    """A year cell: 2023, "2023", 2023.0 from a sheet, or a date cell; ValueError otherwise."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise ValueError
        return None
    if isinstance(value, date):
        return value.year
    if isinstance(value, int | float):
        if value != int(value):
            raise ValueError
        return int(value)
    text = cell_text(value)
    return int(text.removesuffix(".0")) if text else None


def read_directory(path: Path) -> list[NewEntry]:
    """The file's entries; :class:`DirectoryFileError` lists every bad row."""
    try:
        header, rows = read_table(path)
        columns = find_columns(path, header, COLUMNS, REQUIRED)
    except TableFileError as exc:
        raise DirectoryFileError([str(exc)]) from exc
    entries: list[NewEntry] = []
    problems: list[str] = []

    def cell(cells: list[object], column: str) -> object:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else None

    for number, cells in rows:
        texts = {c: cell_text(cell(cells, c)) for c in COLUMNS}
        if not any(texts.values()):
            continue  # a blank line between blocks
        row_problems = [f"{c} is empty" for c in REQUIRED if not texts[c]]
        row_problems += [
            f"{c} is longer than {limit} characters"
            for c, limit in LIMITS.items()
            if len(texts[c]) > limit
        ]
        year: int | None = None
        try:
            year = _year(cell(cells, "year"))
        except ValueError:
            row_problems.append(f"year {texts['year']!r} is not a year like 2023")
        if year is not None and year not in YEARS:
            row_problems.append(f"year {year} is out of range")
        if row_problems:
            problems.append(f"row {number}: " + "; ".join(row_problems))
            continue
        entries.append(
            NewEntry(
                source_row=number,
                name=" ".join(texts["name"].split()),
                description=texts["description"],
                region=texts["region"] or None,
                year=year,
                agency=texts["agency"] or None,
                url=texts["url"] or None,
            )
        )
    if problems:
        raise DirectoryFileError(problems)
    if not entries:
        raise DirectoryFileError([f"{path}: no entries below the header"])
    return entries


async def import_directory(
    database: Database, path: Path, now: datetime | None = None
) -> ImportResult:
    """Read and check the whole file, then add its new entries in one transaction."""
    entries = read_directory(path)
    async with database.writing(), database.sessions() as session, session.begin():
        added: Added = await add_entries(session, path.name, entries, now or utcnow())
    return ImportResult(len(entries), added.added, added.already_there)
