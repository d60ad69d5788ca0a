"""Helpers of the schema tests: run an Alembic command on a connection, and check that statements
are refused by the database's constraints."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from citysoc.db.engine import alembic_config


def run_alembic(conn: Connection, fn: str, revision: str) -> None:
    """``alembic <fn> <revision>`` (``upgrade``/``downgrade``) on ``conn`` (use with ``run_sync``)."""
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    getattr(command, fn)(cfg, revision)


async def assert_refused(conn: AsyncConnection, statements: Iterable[str]) -> None:
    """Each statement fails with an integrity error (each in its own savepoint, rolled back)."""
    for stmt in statements:
        nested = await conn.begin_nested()
        try:
            await conn.execute(sa.text(stmt))
            raise AssertionError(f"accepted: {stmt}")
        except sa.exc.IntegrityError:
            await nested.rollback()
