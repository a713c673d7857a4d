"""A PostgreSQL database made for one bench run beside the given server's, and dropped after,
so a bench never measures (or leaves rows in) a database someone uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@asynccontextmanager
async def scratch_postgres(server_url: str) -> AsyncIterator[str]:
    """Yields the URL of a new, empty database on ``server_url``'s server."""
    name = f"sasi_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
