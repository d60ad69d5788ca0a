"""Migrations: applied at every start without harm, and the schema they build is the ORM's."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from citysoc.db import Base, Database, RolePermission
from citysoc.db.engine import alembic_config
from citysoc.db.enums import DEFAULT_PERMISSIONS


async def test_upgrade_is_idempotent_and_matches_the_models(db: Database) -> None:
    await db.upgrade()
    await db.upgrade()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with db.engine.connect() as conn:
        version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )
    assert version == [head]
    assert diff == [], diff


async def test_migration_seeds_the_permission_table_as_the_code_documents(db: Database) -> None:
    async with db.session() as s:
        rows = (await s.execute(sa.select(RolePermission.role, RolePermission.action))).all()
    seeded: dict[str, set[str]] = {}
    for role, action in rows:
        seeded.setdefault(role.value, set()).add(action)
    assert seeded == {r.value: {a.value for a in acts} for r, acts in DEFAULT_PERMISSIONS.items()}


async def test_check_constraints_hold_in_the_database(db: Database) -> None:
    """The database itself refuses what the API also refuses (security level, officer agency)."""
    async with db.engine.connect() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO agencies (code, name, kind, contacts, created_at, updated_at) VALUES "
                "('a', 'A', 'ward', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for stmt in (
            "INSERT INTO users (username, display_name, role, active, created_at, updated_at) "
            "VALUES ('o', '', 'agency_officer', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO agencies (code, name, kind, contacts, created_at, updated_at) "
            "VALUES ('b', 'B', 'planet', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        ):
            nested = await conn.begin_nested()
            try:
                await conn.execute(sa.text(stmt))
                raise AssertionError(f"accepted: {stmt}")
            except sa.exc.IntegrityError:
                await nested.rollback()
        await conn.rollback()
