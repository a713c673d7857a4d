"""``python -m bot import-asn FILE``: load the Pemda's ASN roster (CSV or XLSX).

Columns ``nip``, ``name``, ``opd`` (an OPD's name or short name, as loaded by import-opd),
``position`` and optionally ``echelon``. The whole file is checked first and every bad row is
reported with its row number; only a file without problems is imported, in one transaction.
A NIP already on the roster is updated; nobody is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.table_file import TableFileError, cell_text, find_columns, read_table
from handlers.nip import NipProblem, parse_nip
from storage.db import Database
from storage.models import Opd, RosterEntry

COLUMNS = {
    "nip": ("nip",),
    "name": ("name", "nama", "full_name", "nama lengkap"),
    "opd": ("opd", "perangkat daerah", "unit kerja", "instansi"),
    "position": ("position", "jabatan"),
    "echelon": ("echelon", "eselon"),
}
REQUIRED = ("nip", "name", "opd", "position")
ECHELONS = ("I", "II", "III", "IV", "V")
_ARABIC = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
MAX_PROBLEMS = 50  # a wholly wrong file is not worth thousands of lines


class RosterFileError(ValueError):
    """The file cannot be imported; ``problems`` lists every bad row."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RosterRow:
    line: int
    nip: str
    name: str
    opd_id: int
    position: str
    echelon: str | None


@dataclass(frozen=True)
class RosterImport:
    added: int
    updated: int
    unchanged: int


def parse_echelon(text: str) -> str | None:
    """ "II.a", "IIb", "III/a", "3", "Eselon IV" → "II", "III", "IV"; "" or "non" → None.
    Raises ValueError for anything that names no echelon."""
    value = re.sub(r"(?i)^eselon\s*", "", text.strip()).upper()
    if not value or value in ("-", "NON", "NON ESELON", "NON-ESELON"):
        return None
    head = re.match(r"^(IV|V|I{1,3}|[1-5])(?:[\s./-]?[AB])?$", value)
    if head is None:
        raise ValueError(text)
    found = head.group(1)
    return _ARABIC.get(found, found)


def read_roster(path: Path, opds: list[Opd], today: date) -> list[RosterRow]:
    """Every row checked; raises :class:`RosterFileError` listing each bad one."""
    try:
        header, rows = read_table(path)
        columns = find_columns(path, header, dict(COLUMNS), REQUIRED)
    except TableFileError as exc:
        raise RosterFileError([str(exc)]) from exc
    by_name: dict[str, Opd] = {}
    for known in opds:
        by_name[" ".join(known.name.lower().split())] = known
        by_name.setdefault(" ".join(known.short_name.lower().split()), known)
    problems: list[str] = []
    result: list[RosterRow] = []
    first_line: dict[str, int] = {}
    for line, cells in rows:
        values = {c: cells[i] if i < len(cells) else None for c, i in columns.items()}
        if all(cell_text(v) == "" for v in values.values()):
            continue
        where = f"row {line}"
        row_problems: list[str] = []
        raw_nip = values["nip"]
        if isinstance(raw_nip, float):
            # An 18-digit number in a spreadsheet cell has already lost its last digits.
            row_problems.append("the NIP is a number cell; format the NIP column as text")
            nip = ""
        else:
            parsed = parse_nip(cell_text(raw_nip), today)
            nip = "" if isinstance(parsed, NipProblem) else parsed.value
            if isinstance(parsed, NipProblem):
                row_problems.append(f"NIP {cell_text(raw_nip)!r} is not valid ({parsed.value})")
        name = " ".join(cell_text(values["name"]).split())
        if not name:
            row_problems.append("no name")
        elif len(name) > 120:
            row_problems.append("the name is over 120 characters")
        opd_text = " ".join(cell_text(values["opd"]).lower().split())
        opd = by_name.get(opd_text)
        if opd is None:
            row_problems.append(
                f"unknown OPD {cell_text(values['opd'])!r} (load it with import-opd first)"
            )
        position = " ".join(cell_text(values["position"]).split())
        if not position:
            row_problems.append("no position")
        echelon: str | None = None
        try:
            echelon = parse_echelon(cell_text(values.get("echelon")))
        except ValueError:
            row_problems.append(
                f"echelon {cell_text(values.get('echelon'))!r} is not one of I–V (e.g. II.a, III)"
            )
        if nip and nip in first_line:
            row_problems.append(f"NIP {nip} is already on row {first_line[nip]}")
        elif nip:
            first_line[nip] = line
        if row_problems:
            problems.append(f"{path}: {where}: " + "; ".join(row_problems))
            if len(problems) >= MAX_PROBLEMS:
                problems.append(f"{path}: stopped after {MAX_PROBLEMS} bad rows")
                break
            continue
        assert opd is not None
        result.append(RosterRow(line, nip, name, opd.id, position[:200], echelon))
    if problems:
        raise RosterFileError(problems)
    if not result:
        raise RosterFileError([f"{path}: no ASN rows"])
    return result


async def import_roster(database: Database, path: Path, today: date) -> RosterImport:
    """Check the whole file, then add new NIPs and update known ones, in one transaction."""
    async with database.sessions() as session:
        opds = list(await session.scalars(select(Opd)))
    rows = read_roster(path, opds, today)
    added = updated = unchanged = 0
    async with database.writing(), database.sessions() as session, session.begin():
        known = {e.nip: e for e in await session.scalars(select(RosterEntry))}
        for row in rows:
            entry = known.get(row.nip)
            if entry is None:
                session.add(
                    RosterEntry(
                        nip=row.nip,
                        full_name=row.name,
                        opd_id=row.opd_id,
                        position=row.position,
                        echelon=row.echelon,
                    )
                )
                added += 1
                continue
            fresh = (row.name, row.opd_id, row.position, row.echelon)
            if (entry.full_name, entry.opd_id, entry.position, entry.echelon) == fresh:
                unchanged += 1
                continue
            entry.full_name, entry.opd_id, entry.position, entry.echelon = fresh
            updated += 1
    return RosterImport(added, updated, unchanged)
