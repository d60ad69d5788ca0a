"""Migration 0002 (incidents): the alert-group constraints survive SQLite's table copy, the group →
incident foreign key holds, and the migration goes down and up again cleanly."""

from __future__ import annotations

import sqlalchemy as sa

from citysoc.db import Database, RolePermission
from citysoc.db.enums import DEFAULT_PERMISSIONS

from .support import assert_refused, run_alembic

GROUP = (
    "INSERT INTO alert_groups (fingerprint, rule_id, title, level, level_rank, agency, system, key, "
    "first_seen, last_seen, count, status, dismiss_reason, incident_id, created_at, updated_at) VALUES "
    "('{fp}', 'r', 't', 'low', 1, 'a', 's', '{{}}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, '{status}', "
    "{reason}, {incident}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


async def test_group_constraints_and_incident_foreign_key_hold(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(sa.text(GROUP.format(fp="ok", status="new", reason="NULL", incident="NULL")))
        await assert_refused(
            conn,
            [
                GROUP.format(fp="x1", status="dismissed", reason="NULL", incident="NULL"),  # reason check
                GROUP.format(fp="x2", status="lost", reason="NULL", incident="NULL"),  # status enum
                GROUP.format(fp="x3", status="new", reason="NULL", incident="424242"),  # no such incident
                GROUP.format(fp="ok", status="new", reason="NULL", incident="NULL"),  # fingerprint unique
            ],
        )
        await conn.rollback()


async def test_downgrade_and_upgrade_again(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(run_alembic, "downgrade", "0001")
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert "incidents" not in tables and "alert_groups" in tables
        await conn.run_sync(run_alembic, "upgrade", "head")
    async with db.session() as s:
        rows = (await s.execute(sa.select(RolePermission.role, RolePermission.action))).all()
    seeded: dict[str, set[str]] = {}
    for role, action in rows:
        seeded.setdefault(role.value, set()).add(action)
    assert seeded == {r.value: {a.value for a in acts} for r, acts in DEFAULT_PERMISSIONS.items()}
