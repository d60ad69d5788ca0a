"""Database fixtures: every test that takes ``db`` runs twice, on SQLite and on PostgreSQL.

PostgreSQL: one fresh database per test session on 127.0.0.1:5432 (created next to db ``test``,
migrated once, dropped at the end), emptied before each test. Unreachable: the PostgreSQL runs are
skipped with the reason, or fail when ``CI=true``. SQLite: a migrated template file copied per test.
``tests/api/conftest.py`` loads this module by path to share the fixtures.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from citysoc.db import Database
from citysoc.db.testing import PG_ADMIN_URL, create_pg_database, drop_pg_database, reset

PG_ADMIN = os.environ.get("CITYSOC_TEST_PG_URL", PG_ADMIN_URL)


def run_sync[T](coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh loop in another thread (callable from inside a loop)."""
    with ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


async def _migrated(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    try:
        url = run_sync(create_pg_database(PG_ADMIN))
    except Exception as e:
        message = f"PostgreSQL at {PG_ADMIN} unreachable ({type(e).__name__}: {e})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (required when CI=true)", pytrace=False)
        pytest.skip(message)
    try:
        run_sync(_migrated(url))
        yield url
    finally:
        run_sync(drop_pg_database(url, PG_ADMIN))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "citysoc.db"
    run_sync(_migrated(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database's URL (a fresh SQLite file, or the session's PostgreSQL database
    emptied)."""
    if request.param == "sqlite":
        path = tmp_path / "citysoc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_url")

    async def _reset() -> None:
        db = Database(url)
        try:
            await reset(db)
        finally:
            await db.dispose()

    run_sync(_reset())
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()
