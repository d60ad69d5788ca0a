"""The relational database: one async engine and session factory per process, and migrations.

Contract:

* ``Database(url)`` connects lazily; ``await db.upgrade()`` applies every Alembic migration not yet
  applied (idempotent, safe at every start); ``await db.ping()`` is ``True`` when a query succeeds.
* ``db.session()`` is an ``AsyncSession`` context; callers commit explicitly.
* SQLite (the embedded default) runs with foreign keys on, WAL, and one connection: writes are
  serialised, which keeps the audit chain linear without row locks. Never nest two sessions.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

log = logging.getLogger("citysoc.db")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs |= {"pool_size": 1, "max_overflow": 0, "pool_timeout": 30}
        else:
            kwargs |= {"pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._migrated = asyncio.Lock()

    def session(self) -> AsyncSession:
        return self.sessions()

    async def upgrade(self, revision: str = "head") -> None:
        """Apply pending migrations (a no-op when the schema is current)."""
        async with self._migrated, self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


async def open_database(url: str, *, echo: bool = False, attempts: int = 60) -> Database:
    """Connect and migrate, waiting for the database to come up (a process may start before it)."""
    delay = 0.5
    for i in range(attempts):
        db = Database(url, echo=echo)
        try:
            await db.upgrade()
            return db
        except Exception as e:
            await db.dispose()
            if i == attempts - 1:
                raise
            log.warning("database %s not ready (%s); retrying", db.url.render_as_string(), e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise RuntimeError("unreachable")
