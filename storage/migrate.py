"""Bring any database to the newest schema with Alembic, from code (``python -m bot migrate``).

Several replicas may start at once against one PostgreSQL: the upgrade runs under an
advisory lock, so one of them migrates and the others wait, then find the schema at head.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage.db import Database
from storage.leader import asyncpg_dsn, is_postgresql, lock_key

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_LOCK = lock_key("migrate")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini interpolation treats "%" specially; URLs may contain escaped characters.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Run every pending migration. Safe to call on an up-to-date database."""
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head_async(database_url: str) -> None:
    """The upgrade, under PostgreSQL's migration lock (one replica migrates at a time)."""
    if not is_postgresql(database_url):
        # Alembic's env.py runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(upgrade_to_head, database_url)
        return
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
        await asyncio.to_thread(upgrade_to_head, database_url)
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)
        await conn.close()


def head_revision() -> str | None:
    """The newest migration in this code."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(database: Database) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    async with database.engine.connect() as conn:
        try:
            return await conn.scalar(text("SELECT version_num FROM alembic_version"))
        except Exception:
            await conn.rollback()
            return None
