"""Importing earlier innovation directories: bad rows named, nothing half-imported, a second
import adds nothing, and a new idea's duplicate question shows the entry "dari direktori"."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from bot.__main__ import main
from bot.app import Core
from bot.directory_import import DirectoryFileError, import_directory
from storage.models import DirectoryEntry, Idea, SimilarityDecision, SimilarityDecisionKind
from tests.chat import ID, ChatDriver

HEADER = "name,description,region,year,opd,url\n"
SAPU_JAGAD = (
    '"SAPU JAGAD","Petugas dukcapil menjemput bola perekaman KTP-el ke rumah warga lansia '
    'dan penyandang disabilitas yang tidak mampu datang ke kantor.","Kota Bima",2022,'
    '"Disdukcapil","https://example.org/sapu"\n'
)
OTHER = '"Pasar Online","Pedagang pasar tradisional menjual lewat aplikasi pesan antar.",,2021,,\n'


async def _count(core: Core) -> int:
    async with core.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(DirectoryEntry)) or 0)


async def test_bad_rows_are_named_and_nothing_is_imported(core: Core, tmp_path: Path) -> None:
    path = tmp_path / "direktori.csv"
    path.write_text(
        HEADER
        + SAPU_JAGAD
        + '"Tanpa uraian","",,,,\n'  # row 3
        + '"Tahun salah","Uraian yang cukup panjang untuk sebuah inovasi",,"dua ribu",,\n'
        + "\n"  # a blank line is not a row
        + '"","Uraian tanpa nama",,1800,,\n',  # row 6
        encoding="utf-8",
    )
    with pytest.raises(DirectoryFileError) as raised:
        await import_directory(core.database, path)
    problems = raised.value.problems
    assert [p.split(":")[0] for p in problems] == ["row 3", "row 4", "row 6"]
    assert "description is empty" in problems[0]
    assert "'dua ribu' is not a year" in problems[1]
    assert "name is empty" in problems[2] and "1800 is out of range" in problems[2]
    assert await _count(core) == 0  # the good row 2 was not imported either


async def test_missing_columns_are_explained(core: Core, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("judul_lain,teks\na,b\n", encoding="utf-8")
    with pytest.raises(DirectoryFileError) as raised:
        await import_directory(core.database, path)
    assert "name, description" in raised.value.problems[0]


async def test_importing_twice_adds_nothing(core: Core, tmp_path: Path) -> None:
    path = tmp_path / "direktori.csv"
    path.write_text(HEADER + SAPU_JAGAD + OTHER + SAPU_JAGAD, encoding="utf-8")
    first = await import_directory(core.database, path)
    assert (first.rows, first.added, first.already_there) == (3, 2, 1)  # repeated in the file
    second = await import_directory(core.database, path)
    assert (second.added, second.already_there) == (0, 3)
    assert await _count(core) == 2
    async with core.database.sessions() as session:
        entry = await session.scalar(select(DirectoryEntry).where(DirectoryEntry.year == 2022))
    assert entry is not None
    assert (entry.name, entry.region, entry.agency, entry.url, entry.source_row) == (
        "SAPU JAGAD",
        "Kota Bima",
        "Disdukcapil",
        "https://example.org/sapu",
        2,
    )


async def test_xlsx_with_indonesian_headers(core: Core, tmp_path: Path) -> None:
    path = tmp_path / "direktori.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Nama", "Deskripsi", "Daerah", "Tahun"])
    sheet.append(["SI-JEMPOL", "Jemput bola perekaman KTP-el bagi lansia", "Kab. Sukamaju", 2021])
    sheet.append(["E-Lapor", "Pengaduan warga lewat aplikasi", None, 2023.0])
    book.save(path)
    result = await import_directory(core.database, path)
    assert result.added == 2
    async with core.database.sessions() as session:
        years = sorted(await session.scalars(select(DirectoryEntry.year)))
    assert years == [2021, 2023]


def test_the_command_line(
    settings_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "direktori.csv"
    path.write_text(HEADER + SAPU_JAGAD + OTHER, encoding="utf-8")
    assert main(["import-directory", str(path)]) == 0
    assert "2 entries added, 0 already there" in capsys.readouterr().out
    assert main(["import-directory", str(path)]) == 0
    assert "0 entries added, 2 already there" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + '"x","",,,,\n', encoding="utf-8")
    assert main(["import-directory", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 2: description is empty" in err and "nothing was imported" in err


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("SASI_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("SASI_DATA_DIR", str(tmp_path / "data"))
    return database


async def test_a_new_idea_is_checked_against_the_directory(
    chat: ChatDriver, tmp_path: Path
) -> None:
    """The running bot (its index built before the import) sees the imported entries."""
    path = tmp_path / "direktori.csv"
    path.write_text(HEADER + SAPU_JAGAD + OTHER, encoding="utf-8")
    await import_directory(chat.core.database, path)

    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "Jemput Bola KTP Lansia")
    await chat.say(
        "rina", "Warga lansia dan penyandang disabilitas tidak mampu datang ke kantor dukcapil"
    )
    await chat.say("rina", "Petugas menjemput bola perekaman KTP-el ke rumah warga lansia")
    text = chat.text("rina")
    assert ID("dup.question") in text, text
    assert "SAPU JAGAD" in text and "Kota Bima, 2022" in text and "dari direktori" in text
    payloads = [c.payload for c in chat.choices("rina")]
    assert "dup:rep:1" in payloads and "dup:join:1" not in payloads
    # A join button for it never existed; typing its payload from an old message does nothing.
    stale = await chat.press("rina", "dup:join:1")
    assert stale[0].text == ID("input.stale_button")

    await chat.press("rina", "dup:rep:1")
    assert ID("dup.replication_noted", name="SAPU JAGAD") in chat.text("rina")
    await chat.say("rina", "Meningkatkan cakupan layanan bagi warga.")
    await chat.say("rina", "Warga terlayani lebih cepat dan murah.")
    await chat.say("rina", "Warga lanjut usia")
    await chat.press("rina", "digital:no")
    await chat.press("rina", "form:pelayanan_publik")
    await chat.say("rina", "kesehatan")
    await chat.press("rina", "initiator:asn")
    await chat.press("rina", "opd:own")
    await chat.say("rina", "50 juta")
    await chat.press("rina", "attach:done")
    summary = chat.text("rina")
    assert (
        ID("intake.summary_replication_directory", name="SAPU JAGAD", origin="Kota Bima, 2022")
        in summary
    )
    await chat.press("rina", "summary:save")

    async with chat.core.database.sessions() as session:
        idea = await session.scalar(select(Idea).where(Idea.name == "Jemput Bola KTP Lansia"))
        entry = await session.scalar(select(DirectoryEntry).where(DirectoryEntry.year == 2022))
        decisions = list(await session.scalars(select(SimilarityDecision)))
    assert idea is not None and entry is not None
    assert idea.replication_of_entry_id == entry.id and idea.replication_of_id is None
    recorded = {d.matched_doc_id: d.decision for d in decisions}
    assert recorded[f"dir:{entry.id}"] is SimilarityDecisionKind.REPLICATE
    assert all(d.idea_id == idea.id for d in decisions)
