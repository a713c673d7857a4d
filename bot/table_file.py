"""Reading a spreadsheet Bappeda sends: CSV (UTF-8, comma, semicolon or tab) or XLSX.

Every import (programmes, the ASN roster) reads its file here, so each one names rows the way
the person sees them in their spreadsheet: row 1 is the header.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

Rows = Iterator[tuple[int, list[object]]]


class TableFileError(ValueError):
    """The file cannot be read as a table; the message names the file and says why."""


def cell_text(value: object) -> str:
    return "" if value is None else str(value).strip()


def read_table(path: Path) -> tuple[list[object], Rows]:
    """The header row and the numbered rows after it."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix == ".xls":
        raise TableFileError(f"{path}: an old .xls workbook; save it as .xlsx or CSV")
    return _read_csv(path)


def find_columns(
    path: Path, header: Sequence[object], wanted: dict[str, Iterable[str]], required: Iterable[str]
) -> dict[str, int]:
    """Column index by name, each known by its aliases; the required ones must be there."""
    names = [" ".join(cell_text(h).lower().split()) for h in header]
    found: dict[str, int] = {}
    for column, aliases in wanted.items():
        index = next((i for i, n in enumerate(names) if n in set(aliases)), None)
        if index is not None:
            found[column] = index
    missing = [c for c in required if c not in found]
    if missing:
        raise TableFileError(
            f"{path}: needs the columns {', '.join(required)} "
            f"(missing: {', '.join(missing)}; found: {', '.join(n for n in names if n) or 'none'})"
        )
    return found


def _read_csv(path: Path) -> tuple[list[object], Rows]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise TableFileError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise TableFileError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from exc
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:2048], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect=dialect)
    header: list[object] = list(next(reader, []))

    def rows() -> Rows:
        for cells in reader:
            yield reader.line_num, list(cells)

    return header, rows()


def _read_xlsx(path: Path) -> tuple[list[object], Rows]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as exc:
        raise TableFileError(f"{path}: file not found") from exc
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise TableFileError(f"{path}: not a readable .xlsx workbook") from exc
    try:
        sheet = workbook.worksheets[0]
        # Read it all now: the workbook is closed before the rows are checked.
        all_rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    header: list[object] = all_rows[0] if all_rows else []

    def rows(items: Iterable[list[object]]) -> Rows:
        yield from enumerate(items, start=2)

    return header, rows(all_rows[1:])
