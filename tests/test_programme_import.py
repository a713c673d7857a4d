"""Reading and checking programme files: CSV and XLSX, every problem naming its row."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.calendar.programme_import import (
    DatedStage,
    ProgrammeFileError,
    parse_date,
    parse_stage,
    plan_import,
    read_programme_file,
)
from storage.models import Stage

HEADER = "programme,stage,starts,ends\n"
LAB_2027 = (
    "Laboratorium Inovasi 2027,Drum-up,2027-01-04,2027-02-26\n"
    "Laboratorium Inovasi 2027,Diagnose,2027-03-01,2027-04-30\n"
    "Laboratorium Inovasi 2027,Design,2027-05-03,2027-05-31\n"
    "Laboratorium Inovasi 2027,Deliver,2027-06-01,2027-10-29\n"
    "Laboratorium Inovasi 2027,Display,2027-11-01,2027-12-17\n"
)


def write(tmp_path: Path, text: str, name: str = "programme.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("drum_up", Stage.DRUM_UP),
        ("Drum-up", Stage.DRUM_UP),
        ("drum up", Stage.DRUM_UP),
        ("DRUMUP", Stage.DRUM_UP),
        ("Diagnose", Stage.DIAGNOSE),
        ("Diagnosa", Stage.DIAGNOSE),
        ("Design", Stage.DESIGN),
        ("Desain", Stage.DESIGN),
        ("3. Desain", Stage.DESIGN),
        ("deliver", Stage.DELIVER),
        ("Display", Stage.DISPLAY),
        ("Pelatihan", None),
        ("", None),
    ],
)
def test_stage_names(text: str, stage: Stage | None) -> None:
    assert parse_stage(text) is stage


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-01-04", date(2027, 1, 4)),
        ("04/01/2027", date(2027, 1, 4)),
        ("4-1-2027", date(2027, 1, 4)),
        ("4 Januari 2027", date(2027, 1, 4)),
        ("Senin, 4 Januari 2027", date(2027, 1, 4)),
        ("31 Mei 2027", date(2027, 5, 31)),
        ("17 Agustus 2027", date(2027, 8, 17)),
        ("17 Agt 2027", date(2027, 8, 17)),
        ("1 December 2027", date(2027, 12, 1)),
        ("2027-01-04 00:00:00", date(2027, 1, 4)),
        (datetime(2027, 1, 4, 0, 0), date(2027, 1, 4)),
        (date(2027, 1, 4), date(2027, 1, 4)),
        ("31/02/2027", None),
        ("4 Jamuari 2027", None),
        ("01/04", None),
        (45000, None),
        (None, None),
    ],
)
def test_dates(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


def test_a_csv_with_indonesian_headers_and_mixed_spellings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Program;Tahap;Mulai;Selesai\n"
        "Laboratorium Inovasi 2027;Drum-up;4 Januari 2027;26/02/2027\n"
        ";Diagnosa;2027-03-01;30 April 2027\n"  # a blank programme repeats the one above
        "\n"
        ";Desain;3 Mei 2027;31 Mei 2027\n",
    )
    rows = read_programme_file(path)
    assert [(r.row, r.programme, r.stage) for r in rows] == [
        (2, "Laboratorium Inovasi 2027", Stage.DRUM_UP),
        (3, "Laboratorium Inovasi 2027", Stage.DIAGNOSE),
        (5, "Laboratorium Inovasi 2027", Stage.DESIGN),
    ]
    assert rows[0].starts == date(2027, 1, 4) and rows[2].ends == date(2027, 5, 31)


def test_an_xlsx_with_real_date_cells_and_text_dates(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["programme", "stage", "starts", "ends"])
    sheet.append(["Laboratorium Inovasi 2027", "Drum-up", datetime(2027, 1, 4), date(2027, 2, 26)])
    sheet.append(["Laboratorium Inovasi 2027", "Diagnose", "1 Maret 2027", "30/04/2027"])
    sheet.append([None, None, None, None])
    sheet.append(["Laboratorium Inovasi 2027", "Design", datetime(2027, 5, 3), "2027-05-31"])
    path = tmp_path / "programme.xlsx"
    book.save(path)
    rows = read_programme_file(path)
    assert [(r.row, r.stage, r.starts, r.ends) for r in rows] == [
        (2, Stage.DRUM_UP, date(2027, 1, 4), date(2027, 2, 26)),
        (3, Stage.DIAGNOSE, date(2027, 3, 1), date(2027, 4, 30)),
        (5, Stage.DESIGN, date(2027, 5, 3), date(2027, 5, 31)),
    ]


def test_an_xlsx_bad_date_cell_names_its_row(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["programme", "stage", "starts", "ends"])
    sheet.append(["Lab 2027", "Drum-up", datetime(2027, 1, 4), datetime(2027, 2, 26)])
    sheet.append(["Lab 2027", "Diagnose", 46000, datetime(2027, 4, 30)])
    path = tmp_path / "programme.xlsx"
    book.save(path)
    with pytest.raises(ProgrammeFileError, match=r"row 3: starts is the number 46000"):
        read_programme_file(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Lab,Drum-up,2027-01-04,2027-02-30\n", r"row 2: ends is not a date: '2027-02-30'"),
        ("Lab,Drum-up,2027-01-04,\n", r"row 2: no ends date"),
        (
            "Lab,Drum-up,2027-01-04,2027-02-26\nLab,Design,2027-06-01,2027-05-01\n",
            r"row 3: ends \(2027-05-01\) is before starts \(2027-06-01\)",
        ),
        (
            "Lab,Drum-up,2027-01-04,2027-02-26\nLab,Pelatihan,2027-03-01,2027-03-31\n",
            r"row 3: unknown stage 'Pelatihan'",
        ),
        (
            "Lab,Drum-up,2027-01-04,2027-02-26\nLab,Diagnose,2027-03-01,2027-03-31\n"
            "lab,drum up,2027-04-01,2027-04-30\n",
            r"row 4: Drum-up is listed twice for 'lab' \(first on row 2\)",
        ),
        (",Drum-up,2027-01-04,2027-02-26\n", r"row 2: no programme name"),
    ],
)
def test_row_problems_name_the_row(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ProgrammeFileError, match=message):
        read_programme_file(write(tmp_path, HEADER + body))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nama,tahap\nLab,Design\n", r"missing: programme, starts, ends; found: nama, tahap"),
        (HEADER, "no stage rows"),
        ("", "needs the columns"),
    ],
)
def test_file_problems(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ProgrammeFileError, match=message):
        read_programme_file(write(tmp_path, content))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProgrammeFileError, match="file not found"):
        read_programme_file(tmp_path / "nope.csv")
    with pytest.raises(ProgrammeFileError, match=r"not a readable \.xlsx"):
        read_programme_file(write(tmp_path, "not a zip", "broken.xlsx"))
    with pytest.raises(ProgrammeFileError, match=r"save it as \.xlsx or CSV"):
        read_programme_file(write(tmp_path, "x", "old.xls"))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes((HEADER + LAB_2027).encode("utf-16"))
    with pytest.raises(ProgrammeFileError, match="not UTF-8"):
        read_programme_file(utf16)


def plan(tmp_path: Path, body: str, stored: dict[str, list[DatedStage]] | None = None) -> None:
    plan_import(read_programme_file(write(tmp_path, HEADER + body)), stored or {})


def test_a_whole_programme_plans_in_5d_order(tmp_path: Path) -> None:
    rows = read_programme_file(write(tmp_path, HEADER + LAB_2027))
    (only,) = plan_import(rows, {})
    assert [s.stage for s in only.stages] == list(Stage)
    assert (only.starts, only.ends) == (date(2027, 1, 4), date(2027, 12, 17))


def test_rows_may_come_in_any_order_if_the_dates_follow_5d(tmp_path: Path) -> None:
    body = "".join(reversed(LAB_2027.splitlines(keepends=True)))
    rows = read_programme_file(write(tmp_path, HEADER + body))
    (only,) = plan_import(rows, {})
    assert [s.stage for s in only.stages] == list(Stage)


def test_stages_out_of_5d_order_name_the_row(tmp_path: Path) -> None:
    body = "Lab,Diagnose,2027-05-03,2027-05-31\nLab,Design,2027-03-01,2027-04-30\n"
    with pytest.raises(ProgrammeFileError, match=r"row 3: .*Design .* comes before Diagnose"):
        plan(tmp_path, body)


def test_overlapping_stages_name_the_row(tmp_path: Path) -> None:
    body = (
        "Lab,Drum-up,2027-01-04,2027-02-26\n"
        "Lab,Diagnose,2027-02-26,2027-04-30\n"  # starts on the day Drum-up ends
    )
    with pytest.raises(ProgrammeFileError, match=r"row 3: .*Diagnose .* overlaps Drum-up"):
        plan(tmp_path, body)


def test_overlapping_programmes_in_one_file(tmp_path: Path) -> None:
    body = (
        LAB_2027
        + "Laboratorium Inovasi 2028,Drum-up,2027-12-01,2028-01-31\n"
        + "Laboratorium Inovasi 2028,Diagnose,2028-02-01,2028-03-31\n"
    )
    with pytest.raises(
        ProgrammeFileError,
        match=r"row 7: programme 'Laboratorium Inovasi 2028' .* overlaps "
        r"'Laboratorium Inovasi 2027' \(2027-01-04 – 2027-12-17, row 2\)",
    ):
        plan(tmp_path, body)


def test_a_programme_overlapping_a_stored_one(tmp_path: Path) -> None:
    stored = {"Lab 2027": [DatedStage(Stage.DRUM_UP, date(2027, 1, 4), date(2027, 12, 17))]}
    with pytest.raises(ProgrammeFileError, match=r"row 2: .* overlaps 'Lab 2027' .*already stored"):
        plan(tmp_path, "Lab 2028,Drum-up,2027-12-01,2028-01-31\n", stored)
    plan(tmp_path, "Lab 2028,Drum-up,2028-01-03,2028-01-31\n", stored)  # after it: fine


def test_the_file_updates_a_stored_programme_and_keeps_its_other_stages(tmp_path: Path) -> None:
    stored = {
        "Laboratorium Inovasi 2027": [
            DatedStage(Stage.DRUM_UP, date(2027, 1, 4), date(2027, 2, 26)),
            DatedStage(Stage.DIAGNOSE, date(2027, 3, 1), date(2027, 4, 30)),
        ]
    }
    body = "laboratorium inovasi 2027,Diagnose,2027-03-01,2027-05-14\n"
    rows = read_programme_file(write(tmp_path, HEADER + body))
    (only,) = plan_import(rows, stored)
    assert only.name == "Laboratorium Inovasi 2027"  # the stored spelling
    assert [(s.stage, s.ends, s.row) for s in only.stages] == [
        (Stage.DRUM_UP, date(2027, 2, 26), None),
        (Stage.DIAGNOSE, date(2027, 5, 14), 2),
    ]
    # A new stage that overlaps a stored one is refused, naming the file's row.
    clash = "Laboratorium Inovasi 2027,Diagnose,2027-02-01,2027-04-30\n"
    with pytest.raises(ProgrammeFileError, match=r"row 2: .*Diagnose .* overlaps Drum-up .*stored"):
        plan(tmp_path, clash, stored)
