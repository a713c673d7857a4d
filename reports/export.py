"""The Direktori Inovasi export, as XLSX or CSV, for the CLI, ``/ekspor`` and the dashboard.

Ideas are read in keyset-paginated batches of plain rows (never all ideas as ORM objects at
once) through the one idea filter (storage/idea_filter.py), so a coordinator's file holds only
their OPDs and the dashboard can export "what is filtered" with the same call.

The XLSX file has two sheets: the directory (one row per idea, the columns of
reports/export_columns.py) and "Inventaris eviden" (one row per idea, one column per IID
indicator: the files present, or "belum ada"). The CSV export writes the same two tables as
two files, ``FILE`` and ``FILE-eviden.csv`` beside it: UTF-8 with a byte-order mark, so Excel
reads the accents and the NIPs right, comma-separated, every text cell quoted.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from handlers.i18n import Translator
from reports.export_columns import (
    COLUMNS,
    FROZEN,
    INVENTORY_LEAD,
    EvidenFile,
    IdeaRecord,
    LatestReport,
    Person,
    directory_row,
    headers,
    inventory_headers,
    inventory_row,
    inventory_widths,
)
from reports.xlsx_stream import CellValue, Workbook
from storage.idea_filter import IdeaFilter, apply_filter
from storage.models import (
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    MonitoringReport,
    Opd,
    User,
)

Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
BATCH = 2000
DEFAULT_TZ = ZoneInfo("Asia/Jakarta")
INVENTORY_SUFFIX = "-eviden"
INVENTORY_LEAD_COLUMNS = len(INVENTORY_LEAD)


@dataclass(frozen=True)
class ExportResult:
    ideas: int
    files: tuple[Path, ...]  # the XLSX workbook, or the two CSV files


def inventory_path(path: Path) -> Path:
    """Where the CSV export puts the eviden inventory: ``ideas.csv`` → ``ideas-eviden.csv``."""
    return path.with_name(f"{path.stem}{INVENTORY_SUFFIX}{path.suffix or '.csv'}")


async def export_ideas(
    session: AsyncSession,
    path: Path,
    fmt: Format,
    *,
    scope: frozenset[int] | None,
    wanted: IdeaFilter | None = None,
    locale: str = "id",
    timezone: ZoneInfo = DEFAULT_TZ,
) -> ExportResult:
    """Write the ideas within ``scope`` (None: all) that ``wanted`` selects to ``path``."""
    t = Translator(locale)
    if fmt == "xlsx":
        return await _export_xlsx(session, path, scope, wanted, t, timezone)
    if fmt == "csv":
        return await _export_csv(session, path, scope, wanted, t, timezone)
    raise ValueError(f"unknown export format {fmt!r}")


async def _export_xlsx(
    session: AsyncSession,
    path: Path,
    scope: frozenset[int] | None,
    wanted: IdeaFilter | None,
    t: Translator,
    tz: ZoneInfo,
) -> ExportResult:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(spool_dir=path.parent)
    directory = book.sheet(t("export.sheet.directory"), [c.width for c in COLUMNS], FROZEN)
    inventory = book.sheet(t("export.sheet.inventory"), inventory_widths(), FROZEN)
    directory.header(headers(t))
    inventory.header(inventory_headers(t))

    def write(batch: Sequence[IdeaRecord]) -> None:
        for record in batch:
            directory.append(directory_row(record, t, tz))
            row = inventory_row(record, t)
            inventory.append(row[:INVENTORY_LEAD_COLUMNS], tuple(row[INVENTORY_LEAD_COLUMNS:]))

    count = 0
    writing: asyncio.Future[None] | None = None
    async for batch in idea_records(session, scope, wanted):
        # Turning rows into XML is CPU work: off the event loop, in a thread, while the next
        # batch is read; one batch is written at a time, in order.
        if writing is not None:
            await writing
        writing = asyncio.ensure_future(asyncio.to_thread(write, batch))
        count += len(batch)
    if writing is not None:
        await writing
    await asyncio.to_thread(book.save, path)
    return ExportResult(count, (path,))


def _csv_cell(value: CellValue) -> object:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()  # Excel reads 2027-03-01 as a date in every locale
    return value


async def _export_csv(
    session: AsyncSession,
    path: Path,
    scope: frozenset[int] | None,
    wanted: IdeaFilter | None,
    t: Translator,
    tz: ZoneInfo,
) -> ExportResult:
    second = inventory_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    # utf-8-sig: the byte-order mark is how Excel knows the file is UTF-8.
    with (
        path.open("w", encoding="utf-8-sig", newline="") as main_file,
        second.open("w", encoding="utf-8-sig", newline="") as inventory_file,
    ):
        # QUOTE_NONNUMERIC: a NIP stays text (quoted), numbers stay numbers, and text with
        # commas, quotes or line breaks is always one cell.
        main = csv.writer(main_file, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        inventory = csv.writer(inventory_file, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        main.writerow(headers(t))
        inventory.writerow(inventory_headers(t))

        def write(batch: Sequence[IdeaRecord]) -> None:
            for record in batch:
                main.writerow([_csv_cell(v) for v in directory_row(record, t, tz)])
                inventory.writerow([_csv_cell(v) for v in inventory_row(record, t)])

        async for batch in idea_records(session, scope, wanted):
            await asyncio.to_thread(write, batch)
            count += len(batch)
    return ExportResult(count, (path, second))


# -- reading ----------------------------------------------------------------------------------


async def idea_records(
    session: AsyncSession,
    scope: frozenset[int] | None,
    wanted: IdeaFilter | None = None,
    batch: int = BATCH,
) -> AsyncIterator[list[IdeaRecord]]:
    """Every idea within the scope and filter, by id, ``batch`` at a time."""
    last = 0
    while True:
        query = (
            select(
                Idea.id,
                Idea.name,
                # The stored codes, not enum members: labels are looked up by code anyway.
                type_coerce(Idea.stage, String),
                type_coerce(Idea.status, String),
                Idea.initiator,
                Idea.is_digital,
                Idea.form,
                Idea.affair,
                Opd.name,
                Idea.problem,
                Idea.idea,
                Idea.goal,
                Idea.benefit,
                Idea.beneficiaries,
                Idea.budget_estimate,
                User.full_name,
                User.nip,
                Idea.launch_date,
                Idea.created_at,
            )
            .outerjoin(Opd, Opd.id == Idea.opd_id)
            .outerjoin(User, User.id == Idea.owner_id)
        )
        query = apply_filter(query, scope, wanted).where(Idea.id > last)
        # On the connection, not the ORM session: plain rows, without the ORM's per-row work.
        connection = await session.connection()
        rows = (await connection.execute(query.order_by(Idea.id).limit(batch))).all()
        if not rows:
            return
        ids = [row[0] for row in rows]
        # A range can cover ideas the filter left out: their rows are dropped below.
        wanted_ids, first, last = set(ids), ids[0], ids[-1]
        people = await _collaborators(session, wanted_ids, first, last)
        reports = await _latest_reports(session, wanted_ids, first, last)
        files = await _files(session, wanted_ids, first, last)
        records = []
        for row in rows:
            idea_id = row[0]
            owner_name, owner_nip = row[15], row[16]
            records.append(
                IdeaRecord(
                    id=idea_id,
                    name=row[1],
                    stage=row[2],
                    status=row[3],
                    initiator=row[4],
                    is_digital=row[5],
                    form=row[6],
                    affair=row[7],
                    opd=row[8],
                    problem=row[9],
                    idea=row[10],
                    goal=row[11],
                    benefit=row[12],
                    beneficiaries=row[13],
                    budget=row[14],
                    owner=Person(owner_name or "", owner_nip or "")
                    if owner_name is not None or owner_nip is not None
                    else None,
                    collaborators=tuple(people.get(idea_id, ())),
                    launch_date=row[17],
                    created_at=row[18],
                    report=reports.get(idea_id),
                    files=tuple(files.get(idea_id, ())),
                )
            )
        yield records
        if len(rows) < batch:
            return
        last = ids[-1]


def _within(
    column: InstrumentedAttribute[int], ids: set[int], first: int, last: int
) -> ColumnElement[bool]:
    """Rows of the batch's ideas: by id range when the batch is dense (every idea, or most),
    which needs no bind parameter per id; by IN when a filter left gaps (a coordinator's
    OPDs), so the range does not read many other ideas' rows."""
    if last - first + 1 <= 2 * len(ids):
        return column.between(first, last)
    return column.in_(sorted(ids))


async def _collaborators(
    session: AsyncSession, ids: set[int], first: int, last: int
) -> dict[int, list[Person]]:
    rows = await (await session.connection()).execute(
        select(IdeaCollaborator.idea_id, User.full_name, User.nip)
        .join(User, User.id == IdeaCollaborator.user_id)
        .where(_within(IdeaCollaborator.idea_id, ids, first, last))
        .order_by(IdeaCollaborator.idea_id, IdeaCollaborator.id)
    )
    found: dict[int, list[Person]] = {}
    for idea_id, name, nip in rows:
        if idea_id in ids:
            found.setdefault(idea_id, []).append(Person(name or "", nip or ""))
    return found


async def _latest_reports(
    session: AsyncSession, ids: set[int], first: int, last: int
) -> dict[int, LatestReport]:
    rows = await (await session.connection()).execute(
        select(
            MonitoringReport.idea_id,
            MonitoringReport.period,
            MonitoringReport.progress,
            MonitoringReport.done,
        )
        .where(_within(MonitoringReport.idea_id, ids, first, last))
        .order_by(MonitoringReport.idea_id, MonitoringReport.period)
    )
    # Ordered by period: the last one seen for an idea is its latest.
    return {
        idea_id: LatestReport(period, progress, done)
        for idea_id, period, progress, done in rows
        if idea_id in ids
    }


async def _files(
    session: AsyncSession, ids: set[int], first: int, last: int
) -> dict[int, list[EvidenFile]]:
    rows = await (await session.connection()).execute(
        select(IdeaAttachment.idea_id, IdeaAttachment.indicator, IdeaAttachment.file_name)
        .where(_within(IdeaAttachment.idea_id, ids, first, last))
        .order_by(IdeaAttachment.idea_id, IdeaAttachment.id)
    )
    found: dict[int, list[EvidenFile]] = {}
    for idea_id, indicator, file_name in rows:
        if idea_id in ids:
            found.setdefault(idea_id, []).append(EvidenFile(indicator, file_name))
    return found
