"""Reading and checking a programme file (CSV or XLSX): pure, no database.

Columns ``programme``, ``stage``, ``starts``, ``ends`` (Indonesian headers ``program``,
``tahap``, ``mulai``, ``selesai`` work too), one row per stage. A file may hold several
programmes; a blank programme cell repeats the one above (merged cells in a sheet). Every
problem names its row as a spreadsheet numbers it (the header is row 1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path

from bot.table_file import Rows, TableFileError, cell_text, read_table
from storage.models import Stage

STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)  # the enum is declared in 5D order
STAGE_LABELS = {
    Stage.DRUM_UP: "Drum-up",
    Stage.DIAGNOSE: "Diagnose",
    Stage.DESIGN: "Design",
    Stage.DELIVER: "Deliver",
    Stage.DISPLAY: "Display",
}
# Keys are spellings with spaces, hyphens and underscores removed.
_STAGE_NAMES: dict[str, Stage] = {
    "drumup": Stage.DRUM_UP,
    "diagnose": Stage.DIAGNOSE,
    "diagnosa": Stage.DIAGNOSE,
    "diagnosis": Stage.DIAGNOSE,
    "design": Stage.DESIGN,
    "desain": Stage.DESIGN,
    "disain": Stage.DESIGN,
    "deliver": Stage.DELIVER,
    "delivery": Stage.DELIVER,
    "display": Stage.DISPLAY,
    "displai": Stage.DISPLAY,
}
_COLUMNS = {
    "programme": ("programme", "program", "program name", "nama program"),
    "stage": ("stage", "tahap", "tahapan"),
    "starts": ("starts", "start", "mulai", "tanggal mulai"),
    "ends": ("ends", "end", "selesai", "tanggal selesai"),
}
_MONTHS = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "pebruari": 2, "feb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "agt": 8, "ags": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}  # fmt: skip
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?")
_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_WORDS = re.compile(r"(?:[a-z]+,?\s+)?(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})")  # "Senin, 4 Januari 2027"
MAX_NAME = 120  # Programme.name
DATE_HINT = "use 2027-01-04, 04/01/2027 or 4 Januari 2027"


class ProgrammeFileError(ValueError):
    """The file cannot be imported; the message names the file and the row."""


@dataclass(frozen=True)
class StageRow:
    """One row of the file, read and checked on its own."""

    row: int
    programme: str
    stage: Stage
    starts: date
    ends: date


@dataclass(frozen=True)
class DatedStage:
    """A stage's dates; ``row`` is None for one already stored and not in the file."""

    stage: Stage
    starts: date
    ends: date
    row: int | None = None


@dataclass(frozen=True)
class ProgrammePlan:
    """What a programme will hold after the import: the file's stages over the stored ones."""

    name: str
    first_row: int
    stages: tuple[DatedStage, ...]  # in 5D order

    @property
    def starts(self) -> date:
        return min(s.starts for s in self.stages)

    @property
    def ends(self) -> date:
        return max(s.ends for s in self.stages)


def parse_stage(text: str) -> Stage | None:
    """A stage from the names people write: ``drum_up``, "Drum-up", "Diagnosa", "3. Desain"."""
    key = re.sub(r"^\d+\s*[.)]?\s*", "", text.strip().lower())
    key = re.sub(r"[\s_\-]+", "", key)
    return _STAGE_NAMES.get(key)


def parse_date(value: object) -> date | None:
    """A date from a sheet cell or text (ISO, day first, or "4 Januari 2027")."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = " ".join(value.strip().lower().split())
    try:
        if match := _ISO.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_FIRST.fullmatch(text):
            return date(int(match[3]), int(match[2]), int(match[1]))
        if (match := _WORDS.fullmatch(text)) and match[2] in _MONTHS:
            return date(int(match[3]), _MONTHS[match[2]], int(match[1]))
    except ValueError:
        return None  # 31/02/2027 and the like
    return None


def read_programme_file(path: Path) -> list[StageRow]:
    """Read and check every row; the first problem raises, naming its row."""
    header, rows = _read(path)
    columns = _columns(path, header)
    result: list[StageRow] = []
    first_row: dict[tuple[str, Stage], int] = {}
    previous = ""
    for number, cells in rows:
        values = [cells[i] if i < len(cells) else None for i in range(len(header))]
        if all(_text(v) == "" for v in values):
            continue
        where = f"{path}: row {number}"
        name = " ".join(_text(values[columns["programme"]]).split()) or previous
        if not name:
            raise ProgrammeFileError(f"{where}: no programme name")
        if len(name) > MAX_NAME:
            raise ProgrammeFileError(f"{where}: the programme name is over {MAX_NAME} characters")
        previous = name
        stage_text = _text(values[columns["stage"]])
        stage = parse_stage(stage_text)
        if stage is None:
            raise ProgrammeFileError(
                f"{where}: unknown stage {stage_text!r} "
                f"(expected {', '.join(STAGE_LABELS.values())})"
            )
        starts = _date(where, "starts", values[columns["starts"]])
        ends = _date(where, "ends", values[columns["ends"]])
        if ends < starts:
            raise ProgrammeFileError(f"{where}: ends ({ends}) is before starts ({starts})")
        key = (name.lower(), stage)
        if key in first_row:
            raise ProgrammeFileError(
                f"{where}: {STAGE_LABELS[stage]} is listed twice for {name!r} "
                f"(first on row {first_row[key]})"
            )
        first_row[key] = number
        result.append(StageRow(number, name, stage, starts, ends))
    if not result:
        raise ProgrammeFileError(f"{path}: no stage rows")
    return result


def plan_import(
    rows: Sequence[StageRow], stored: Mapping[str, Sequence[DatedStage]]
) -> list[ProgrammePlan]:
    """The programmes after the import, checked: stages in 5D order without overlaps, and no
    two programmes overlapping (those in the file, or stored ones). ``stored`` maps each
    stored programme's name to its stages; names match whatever their case."""
    stored_by_key = {name.lower(): (name, stages) for name, stages in stored.items()}
    grouped: dict[str, list[StageRow]] = {}
    for row in rows:
        grouped.setdefault(row.programme.lower(), []).append(row)
    plans: list[ProgrammePlan] = []
    for key, group in grouped.items():
        name, old = stored_by_key.get(key, (group[0].programme, ()))
        stages = {s.stage: DatedStage(s.stage, s.starts, s.ends) for s in old}
        stages.update({r.stage: DatedStage(r.stage, r.starts, r.ends, r.row) for r in group})
        ordered = tuple(stages[s] for s in STAGE_ORDER if s in stages)
        _check_order(name, ordered, group[0].row)
        plans.append(ProgrammePlan(name, min(r.row for r in group), ordered))
    _check_programmes_apart(plans, stored_by_key)
    return plans


def _check_order(name: str, stages: Sequence[DatedStage], fallback_row: int) -> None:
    for before, after in pairwise(stages):
        if after.starts > before.ends:
            continue
        row = after.row if after.row is not None else before.row or fallback_row
        problem = "comes before" if after.ends < before.starts else "overlaps"
        raise ProgrammeFileError(
            f"row {row}: in {name!r}, {_describe(after)} {problem} {_describe(before)}; "
            "stages follow the 5D order (Drum-up, Diagnose, Design, Deliver, Display), "
            "each starting after the one before ends"
        )


def _check_programmes_apart(
    plans: Sequence[ProgrammePlan], stored: Mapping[str, tuple[str, Sequence[DatedStage]]]
) -> None:
    planned = {p.name.lower() for p in plans}
    others: list[tuple[str, date, date, int | None]] = [
        (p.name, p.starts, p.ends, p.first_row) for p in plans
    ]
    for key, (name, stages) in stored.items():
        if key not in planned and stages:
            others.append((name, min(s.starts for s in stages), max(s.ends for s in stages), None))
    for plan in sorted(plans, key=lambda p: p.first_row):
        for name, starts, ends, row in others:
            if name.lower() == plan.name.lower() or ends < plan.starts or starts > plan.ends:
                continue
            if row is not None and row > plan.first_row:
                continue  # reported at that later programme's turn, naming its row
            where = "already stored" if row is None else f"row {row}"
            raise ProgrammeFileError(
                f"row {plan.first_row}: programme {plan.name!r} ({plan.starts} – {plan.ends}) "
                f"overlaps {name!r} ({starts} – {ends}, {where}); programmes run one after "
                "another"
            )


def _describe(stage: DatedStage) -> str:
    where = "already stored" if stage.row is None else f"row {stage.row}"
    return f"{STAGE_LABELS[stage.stage]} ({stage.starts} – {stage.ends}, {where})"


def _columns(path: Path, header: Sequence[object]) -> dict[str, int]:
    names = [" ".join(_text(h).lower().split()) for h in header]
    found: dict[str, int] = {}
    for column, aliases in _COLUMNS.items():
        index = next((i for i, n in enumerate(names) if n in aliases), None)
        if index is not None:
            found[column] = index
    missing = [c for c in _COLUMNS if c not in found]
    if missing:
        raise ProgrammeFileError(
            f"{path}: needs the columns programme, stage, starts, ends "
            f"(missing: {', '.join(missing)}; found: {', '.join(n for n in names if n) or 'none'})"
        )
    return found


def _date(where: str, column: str, value: object) -> date:
    parsed = parse_date(value)
    if parsed is not None:
        return parsed
    if value is None or _text(value) == "":
        raise ProgrammeFileError(f"{where}: no {column} date ({DATE_HINT})")
    if isinstance(value, int | float):
        raise ProgrammeFileError(
            f"{where}: {column} is the number {value}, not a date (format the cell as a date)"
        )
    raise ProgrammeFileError(f"{where}: {column} is not a date: {_text(value)!r} ({DATE_HINT})")


def _text(value: object) -> str:
    return cell_text(value)


def _read(path: Path) -> tuple[list[object], Rows]:
    try:
        return read_table(path)
    except TableFileError as exc:
        raise ProgrammeFileError(str(exc)) from exc
