"""The command line: migrate, import-opd, seed-demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.demo import seed_demo
from bot.opd_import import OpdFileError, import_opds, read_opd_csv
from storage.db import Database
from storage.models import Idea, Opd


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WHATSAPP_"))}
    env["SASI_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_migrate_then_import_an_opd_list(tmp_path: Path) -> None:
    assert cli(tmp_path, "migrate").returncode == 0
    assert cli(tmp_path, "migrate").returncode == 0  # idempotent
    csv_file = tmp_path / "opd.csv"
    csv_file.write_text(
        "name;short_name\nDinas Kesehatan;Dinkes\n"
        "Dinas Kependudukan dan Pencatatan Sipil Kabupaten Contoh Raya;\n",
        encoding="utf-8",
    )
    result = cli(tmp_path, "import-opd", str(csv_file))
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "needs a 'name' column"),
        (b"nama,singkatan\nDinkes,D\n", "needs a 'name' column"),
        (b"name\n\n", "no OPD rows"),
        ("name\nDinas Pendidikan\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_bad_opd_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(OpdFileError, match=message):
        read_opd_csv(path)
    result = cli(tmp_path, "import-opd", str(path))
    assert result.returncode == 2 and message in result.stderr


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = cli(tmp_path, "import-opd", str(tmp_path / "nope.csv"))
    assert result.returncode == 2 and "file not found" in result.stderr


async def test_reimporting_updates_and_never_duplicates(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    try:
        path = tmp_path / "opd.csv"
        path.write_text("name,short_name\nDinas Kesehatan,Dinkes\n")
        assert await import_opds(database, read_opd_csv(path)) == (1, 0)
        path.write_text("name,short_name\ndinas kesehatan,DKK\nDinas Sosial,Dinsos\n")
        assert await import_opds(database, read_opd_csv(path)) == (1, 1)
        async with database.sessions() as session:
            names = sorted(await session.scalars(select(Opd.short_name)))
        assert names == ["DKK", "Dinsos"]
    finally:
        await database.dispose()


async def test_seed_demo_loads_a_pemda_once(database_url: str) -> None:
    database = Database(database_url)
    try:
        opds, ideas = await seed_demo(database)
        assert opds >= 30 and ideas >= 30
        assert await seed_demo(database) == (0, 0)
        async with database.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Idea)) == ideas
    finally:
        await database.dispose()
