"""``import-asn``, ``grant``, ``revoke`` and ``audit`` through ``python -m bot``'s own main."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.__main__ import main
from bot.opd_import import OpdRow, import_opds
from storage.db import Database
from storage.models import AuditEntry, RosterEntry, User, UserRole, utcnow

ROSTER_CSV = (
    "nip,nama,opd,jabatan,eselon\n"
    "199107082019032012,Rina Marlina,Dinkes,Pranata Komputer,\n"
    "197905102005011002,Agus Wijaya,Badan Perencanaan Pembangunan Daerah,Kepala Bidang,III.a\n"
    "198503152010011003,dr. Budi Santoso,dinkes,Kepala Dinas,II.b\n"
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("TELEGRAM_BOT_TOKEN", "WHATSAPP_TOKEN", "SASI_LOCALE", "SASI_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SASI_DATABASE_URL", url)
    assert main(["migrate"]) == 0

    async def seed() -> None:
        database = Database(url)
        try:
            await import_opds(
                database,
                [
                    OpdRow("Dinas Kesehatan", "Dinkes"),
                    OpdRow("Badan Perencanaan Pembangunan Daerah", "Bappeda"),
                ],
            )
            async with database.sessions() as session, session.begin():
                session.add(
                    User(full_name="Rina Marlina", nip="199107082019032012", registered_at=utcnow())
                )
                session.add(User(full_name="Belum Daftar", nip=None))
        finally:
            await database.dispose()

    run(seed())
    return url


def rows(url: str, model: type[Any]) -> list[Any]:
    async def read() -> list[Any]:
        database = Database(url)
        try:
            async with database.sessions() as session:
                return list(await session.scalars(select(model).order_by(model.id)))
        finally:
            await database.dispose()

    return list(run(read()))


def test_import_asn_loads_the_roster_and_a_second_import_changes_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "asn.csv"
    path.write_text(ROSTER_CSV, encoding="utf-8")
    assert main(["import-asn", str(path)]) == 0
    assert "3 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    entries = {e.nip: e for e in rows(db_url, RosterEntry)}
    assert entries["198503152010011003"].full_name == "dr. Budi Santoso"
    assert entries["198503152010011003"].echelon == "II"
    assert entries["197905102005011002"].echelon == "III"
    assert entries["199107082019032012"].echelon is None
    assert main(["import-asn", str(path)]) == 0
    assert "0 added, 0 updated, 3 unchanged" in capsys.readouterr().out


def test_import_asn_reads_xlsx_and_updates_a_known_nip(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = tmp_path / "asn.csv"
    csv_path.write_text(ROSTER_CSV, encoding="utf-8")
    assert main(["import-asn", str(csv_path)]) == 0
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["NIP", "Nama", "OPD", "Jabatan", "Eselon"])
    sheet.append(["199107082019032012", "Rina Marlina", "Dinkes", "Analis Kebijakan", "IV.a"])
    book.save(tmp_path / "asn.xlsx")
    assert main(["import-asn", str(tmp_path / "asn.xlsx")]) == 0
    assert "0 added, 1 updated, 0 unchanged" in capsys.readouterr().out
    rina = next(e for e in rows(db_url, RosterEntry) if e.nip == "199107082019032012")
    assert (rina.position, rina.echelon) == ("Analis Kebijakan", "IV")


def test_import_asn_names_every_bad_row_and_imports_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "asn.csv"
    path.write_text(
        ROSTER_CSV
        + "12345,Tanpa NIP Benar,Dinkes,Staf,\n"
        + "199001012015031001,,Dinas Entah,Staf,VI\n"
        + "199107082019032012,Rina Lagi,Dinkes,Staf,\n",
        encoding="utf-8",
    )
    assert main(["import-asn", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 5: NIP '12345' is not valid" in err
    assert "row 6: no name; unknown OPD 'Dinas Entah'" in err
    assert "echelon 'VI' is not one of I–V" in err
    assert "row 7: NIP 199107082019032012 is already on row 2" in err
    assert "nothing was imported" in err
    assert rows(db_url, RosterEntry) == []


def test_an_xlsx_nip_stored_as_a_number_is_refused(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["nip", "name", "opd", "position"])
    sheet.append([1.99107082019032e17, "Rina Marlina", "Dinkes", "Staf"])
    book.save(tmp_path / "asn.xlsx")
    assert main(["import-asn", str(tmp_path / "asn.xlsx")]) == 2
    assert "format the NIP column as text" in capsys.readouterr().err


def test_grant_and_revoke_are_audited(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    nip = "199107082019032012"
    assert main(["grant", nip, "coordinator", "--opd", "dinkes"]) == 0
    assert "Rina Marlina (199107082019032012) is now coordinator of Dinkes" in (
        capsys.readouterr().out
    )
    assert main(["grant", nip, "coordinator", "--opd", "Dinkes"]) == 0
    assert "already is coordinator of Dinkes" in capsys.readouterr().out
    assert main(["grant", nip, "bappeda"]) == 0
    assert [(r.role.value, r.opd_id is not None) for r in rows(db_url, UserRole)] == [
        ("coordinator", True),
        ("bappeda", False),
    ]
    assert main(["revoke", nip, "coordinator"]) == 0
    assert "is no longer coordinator" in capsys.readouterr().out
    assert [r.role.value for r in rows(db_url, UserRole)] == ["bappeda"]
    audit = rows(db_url, AuditEntry)
    assert [(a.actor, a.action, a.before, a.after) for a in audit] == [
        ("cli", "role.grant", None, {"role": "coordinator:Dinkes"}),
        ("cli", "role.grant", None, {"role": "bappeda"}),
        ("cli", "role.revoke", {"role": "coordinator:Dinkes"}, None),
    ]
    assert {a.subject for a in audit} == {f"user:{rows(db_url, User)[0].id}"}
    assert main(["audit"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "at\tactor\taction\tsubject\tbefore\tafter\tnote"
    assert [line.split("\t")[2] for line in printed[1:]] == [
        "role.grant",
        "role.grant",
        "role.revoke",
    ]
    assert '{"role": "coordinator:Dinkes"}' in printed[3]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["grant", "199001012015031001", "bappeda"], "no registered person with NIP"),
        (["grant", "199107082019032012", "kepala"], "unknown role 'kepala'"),
        (["grant", "199107082019032012", "coordinator"], "needs --opd"),
        (["grant", "199107082019032012", "admin", "--opd", "Dinkes"], "only the coordinator"),
        (["grant", "199107082019032012", "coordinator", "--opd", "Dishub"], "no OPD named"),
        (["audit", "--since", "kemarin"], "--since wants an ISO date"),
    ],
)
def test_bad_admin_commands_say_why(
    db_url: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert rows(db_url, UserRole) == []
