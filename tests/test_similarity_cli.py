"""``dedup-check``: TSV report, self-check and query modes, clear errors on bad files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from bot.similarity.cli import main

CORPUS = [
    ("name", "description", "region", "opd"),
    (
        "Sapu Jagad",
        "Jemput bola perekaman KTP-el ke rumah warga lansia dan difabel",
        "Kabupaten Klaten",
        "Disdukcapil",
    ),
    (
        "Door to Door Service",
        "Petugas mendatangi rumah lanjut usia dan penyandang disabilitas "
        "untuk merekam KTP elektronik",
        "Kota Tegal",
        "Disdukcapil",
    ),
    (
        "Bank Sampah Sekolah",
        "Siswa menabung sampah plastik yang dipilah di bank sampah sekolah",
        "Kota Malang",
        "DLH",
    ),
    (
        "Embung Desa",
        "Pembangunan embung penampung air hujan untuk irigasi musim kemarau",
        "Kabupaten Gunungkidul",
        "DPU",
    ),
]


def _write(path: Path, rows: list[tuple[str, ...]], delimiter: str = "\t") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[list[str]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out), delimiter="\t")) if out else []
    return code, rows, err


def test_self_check_finds_the_pair_and_stays_quiet_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _write(tmp_path / "dir.tsv", CORPUS)
    code, rows, err = _run(capsys, "--corpus", str(corpus))
    assert code == 0
    header, body = rows[0], rows[1:]
    assert header[:3] == ["query_name", "match_name", "score"]
    assert "match_region" in header and "match_opd" in header
    pairs = {(r[0], r[1]) for r in body}
    assert pairs == {("Sapu Jagad", "Door to Door Service"), ("Door to Door Service", "Sapu Jagad")}
    for r in body:
        assert 0 <= float(r[2]) <= 100
    region = header.index("match_region")
    assert {r[region] for r in body} == {"Kabupaten Klaten", "Kota Tegal"}
    assert "4 queries checked" in err


def test_queries_against_corpus_with_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = _write(tmp_path / "dir.csv", CORPUS, delimiter=",")
    queries = _write(
        tmp_path / "new.csv",
        [
            ("name", "description", "pengusul"),
            (
                "Jebol Anduk",
                "Jemput bola administrasi kependudukan: rekam e-KTP di rumah manula",
                "A",
            ),
            ("Festival Layang-layang", "Lomba layang-layang tahunan di pantai", "B"),
        ],
        delimiter=",",
    )
    code, rows, _ = _run(capsys, "--corpus", str(corpus), "--queries", str(queries), "--limit", "1")
    assert code == 0
    body = rows[1:]
    assert len(body) == 1  # limit 1, and the kite festival is shown nothing
    assert body[0][0] == "Jebol Anduk"
    assert body[0][1] in {"Sapu Jagad", "Door to Door Service"}
    assert body[0][rows[0].index("query_pengusul")] == "A"


def test_xlsx_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in CORPUS:
        ws.append(list(row))
    path = tmp_path / "dir.xlsx"
    wb.save(path)
    code, rows, _ = _run(capsys, "--corpus", str(path))
    assert code == 0
    assert len(rows) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"judul\turaian\nA\tB\n", "missing column(s) name, description"),
        (b"name\turaian\nA\tB\n", "missing column(s) description"),
        (b"", "empty"),
        (b"name\tdescription\n", "no rows"),
        ("name\tdescription\nPelayanan Prima\tLayanan cepat\n".encode("utf-16"), "UTF-8"),
        ("name\tdescription\nCaf\u00e9\tx\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_bad_files_give_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    code, rows, err = _run(capsys, "--corpus", str(path))
    assert code == 2
    assert rows == []
    assert message in err and str(path) in err


def test_missing_and_broken_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--corpus", str(tmp_path / "nope.csv"))
    assert code == 2 and "not found" in err
    fake = tmp_path / "fake.xlsx"
    fake.write_bytes(b"not a zip")
    code, _, err = _run(capsys, "--corpus", str(fake))
    assert code == 2 and "XLSX" in err
    good = _write(tmp_path / "dir.tsv", CORPUS)
    code, _, err = _run(capsys, "--corpus", str(good), "--queries", str(tmp_path / "none.tsv"))
    assert code == 2 and "none.tsv" in err


def test_bad_limit_is_a_usage_error(tmp_path: Path) -> None:
    good = _write(tmp_path / "dir.tsv", CORPUS)
    with pytest.raises(SystemExit) as exc:
        main(["--corpus", str(good), "--limit", "0"])
    assert exc.value.code == 2
