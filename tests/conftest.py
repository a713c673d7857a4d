"""Shared fixtures: a migrated database on every backend, the core, and a chat driver.

The storage and flow tests run on SQLite always, and on PostgreSQL too when
``SASI_TEST_DATABASE_URL`` is set (``.ci/run`` sets it when a server answers). The test
output says plainly which backends ran.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import Core, open_core
from bot.config import Settings
from storage.migrate import upgrade_to_head
from storage.schema import metadata
from tests.chat import ChatDriver

PG_URL = os.environ.get("SASI_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
_ran: set[str] = set()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PG_URL:
        return [f"database backends: SQLite and PostgreSQL ({_redact(PG_URL)})"]
    return [
        "database backends: SQLite only -- PostgreSQL NOT TESTED "
        "(set SASI_TEST_DATABASE_URL=postgresql+asyncpg://... to include it)"
    ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    ran = ", ".join(sorted(_ran)) or "none"
    terminalreporter.write_sep("=", f"database backends exercised: {ran}")
    if not PG_URL:
        terminalreporter.write_line(
            "WARNING: PostgreSQL was NOT tested (SASI_TEST_DATABASE_URL is unset)", red=True
        )
    skipped = terminalreporter.stats.get("skipped", [])
    if any("NO BROWSER" in str(getattr(r, "longrepr", "")) for r in skipped):
        terminalreporter.write_line(
            "WARNING: the dashboard's browser test was NOT run (no chromium/chromedriver)",
            red=True,
        )


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head through Alembic; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run, migrated to head, dropped at the end."""
    if not PG_URL:
        yield None
        return
    base = make_url(PG_URL)
    name = f"sasi_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: str | None,
) -> AsyncIterator[str]:
    """A migrated, empty database on each backend under test."""
    backend: str = request.param
    _ran.add(backend)
    if backend == "sqlite":
        path = tmp_path / "sasi.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert postgres_database is not None
    await _truncate(postgres_database)
    yield postgres_database


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        attachments_dir=tmp_path / "attachments",
    )


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Core]:
    """The real core on a real database (already migrated)."""
    async with open_core(settings, migrate=False) as opened:
        yield opened


@pytest.fixture
async def demo_core(core: Core) -> Core:
    """The core with the demo Pemda's OPDs loaded (no ideas)."""
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv

    await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
    return core


@pytest.fixture
def chat(demo_core: Core) -> ChatDriver:
    return ChatDriver(demo_core)
