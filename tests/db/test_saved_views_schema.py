"""Migration 0003 (saved queue views): names are unique per owner, a user's views and default go with
the user, and the migration goes down (tables and the view.* permissions removed) and up again."""

from __future__ import annotations

import sqlalchemy as sa

from citysoc.db import Database, RolePermission
from citysoc.db.enums import DEFAULT_PERMISSIONS

from .support import assert_refused, run_alembic

USER = (
    "INSERT INTO users (id, username, display_name, role, active, created_at, updated_at) "
    "VALUES ({id}, 'u{id}', '', 'soc_analyst', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
VIEW = (
    "INSERT INTO saved_views (id, owner_id, name, query, shared, created_at, updated_at) "
    "VALUES ({id}, {owner}, '{name}', 'view=flat', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


async def test_names_unique_per_owner_and_rows_go_with_the_user(db: Database) -> None:
    async with db.engine.begin() as conn:
        for uid in (1, 2):
            await conn.execute(sa.text(USER.format(id=uid)))
        await conn.execute(sa.text(VIEW.format(id=1, owner=1, name="mine")))
        await conn.execute(sa.text(VIEW.format(id=2, owner=2, name="mine")))  # another owner: fine
        await conn.execute(sa.text("INSERT INTO saved_view_defaults (user_id, view_id) VALUES (2, 1)"))
        await assert_refused(
            conn,
            [
                VIEW.format(id=3, owner=1, name="mine"),  # same owner, same name
                VIEW.format(id=4, owner=99, name="x"),  # no such user
                "INSERT INTO saved_view_defaults (user_id, view_id) VALUES (2, 2)",  # one default per user
            ],
        )
        await conn.execute(sa.text("DELETE FROM users WHERE id = 1"))
        left = (await conn.execute(sa.text("SELECT id FROM saved_views ORDER BY id"))).scalars().all()
        defaults = (await conn.execute(sa.text("SELECT user_id FROM saved_view_defaults"))).scalars().all()
        assert (left, defaults) == ([2], [])  # user 1's view, and user 2's default naming it, are gone
        await conn.rollback()


async def test_downgrade_to_0002_and_upgrade_again(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(run_alembic, "downgrade", "0002")
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert not {"saved_views", "saved_view_defaults"} & tables and "incidents" in tables
        actions = (
            (await conn.execute(sa.text("SELECT DISTINCT action FROM role_permissions"))).scalars().all()
        )
        assert not [a for a in actions if a.startswith("view.")]
        await conn.run_sync(run_alembic, "upgrade", "head")
    async with db.session() as s:
        rows = (await s.execute(sa.select(RolePermission.role, RolePermission.action))).all()
    seeded: dict[str, set[str]] = {}
    for role, action in rows:
        seeded.setdefault(role.value, set()).add(action)
    assert seeded == {r.value: {a.value for a in acts} for r, acts in DEFAULT_PERMISSIONS.items()}
    assert "view.manage" not in seeded["soc_lead"] and seeded["auditor"] & {"view.read", "view.write"} == {
        "view.read"
    }
