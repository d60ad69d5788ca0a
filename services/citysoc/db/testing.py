"""Helpers for tests and benchmarks that need a real database: a throwaway PostgreSQL database and
a reset to the just-migrated state. Not used by the product itself."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from citysoc.db.base import Base
from citysoc.db.engine import Database
from citysoc.db.enums import DEFAULT_PERMISSIONS

PG_ADMIN_URL = "postgresql+asyncpg://127.0.0.1:5432/test"


async def create_pg_database(admin_url: str = PG_ADMIN_URL, prefix: str = "citysoc_t_") -> str:
    """Create an empty database next to ``admin_url``'s and return its URL."""
    name = prefix + secrets.token_hex(6)
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(url: str, admin_url: str = PG_ADMIN_URL) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def reset(db: Database) -> None:
    """Empty every table, then restore what the migrations seed (permissions, audit chain head)."""
    async with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        await conn.execute(
            Base.metadata.tables["role_permissions"].insert(),
            [{"role": r.value, "action": a.value} for r, acts in DEFAULT_PERMISSIONS.items() for a in acts],
        )
        await conn.execute(
            Base.metadata.tables["audit_head"].insert(), [{"id": 1, "seq": 0, "hash": "0" * 64}]
        )
