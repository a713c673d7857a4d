"""Reading innovation tables (CSV, TSV, XLSX) for ``dedup-check`` and the benchmarks."""

from __future__ import annotations

import csv
import io
from pathlib import Path

REQUIRED_COLUMNS = ("name", "description")


class CorpusError(ValueError):
    """A table that cannot be used, with a message fit for the person who supplied it."""


def _clean_header(cell: object) -> str:
    return str(cell or "").strip().lstrip("\ufeff").strip().lower()


def _rows_from_text(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save the file as UTF-8 "
            "(Excel: Save As > CSV UTF-8) and try again"
        ) from None
    if "\x00" in text:
        raise CorpusError(f"{path}: looks like a binary file, not CSV/TSV text")
    if path.suffix.lower() == ".tsv":
        delimiter = "\t"
    elif path.suffix.lower() == ".csv":
        # Indonesian Excel exports CSV with semicolons; look at the header line.
        first = text.split("\n", 1)[0]
        delimiter = ";" if first.count(";") > first.count(",") else ","
    else:
        first = text.split("\n", 1)[0]
        delimiter = max("\t,;", key=first.count)
    try:
        return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
    except csv.Error as exc:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise CorpusError(f"{path}: cannot parse as {kind}: {exc}") from None


def _rows_from_xlsx(path: Path) -> list[list[str]]:
    from zipfile import BadZipFile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        raise CorpusError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        ws = wb.worksheets[0]
        return [
            ["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)
        ]
    finally:
        wb.close()


def load_table(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV/TSV/XLSX file as dicts keyed by lower-case header.

    Raises :class:`CorpusError` when the file is missing, unreadable, has no
    ``name``/``description`` columns, or has no data rows.
    """
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"{p}: file not found")
    rows = _rows_from_xlsx(p) if p.suffix.lower() in {".xlsx", ".xlsm"} else _rows_from_text(p)
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise CorpusError(f"{p}: the file is empty")
    header = [_clean_header(c) for c in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        found = ", ".join(h for h in header if h) or "none"
        raise CorpusError(
            f"{p}: missing column(s) {', '.join(missing)}; the first row must name the "
            f"columns (found: {found})"
        )
    out: list[dict[str, str]] = []
    for row in rows[1:]:
        record = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}
        if record.get("name") or record.get("description"):
            out.append(record)
    if not out:
        raise CorpusError(f"{p}: no rows with a name or description below the header")
    return out
