"""Saved alert-queue views and each user's default view; permissions for the new actions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Values are literal here (not imported from the package) so this migration means the same forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_ACTIONS = ["view.read", "view.write", "view.share", "view.manage"]
PERMISSIONS = {
    "city_soc_admin": NEW_ACTIONS,
    "soc_lead": ["view.read", "view.write", "view.share"],
    "soc_analyst": ["view.read", "view.write"],
    "rule_author": ["view.read", "view.write"],
    "auditor": ["view.read"],
    "agency_officer": ["view.read", "view.write"],
}


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.String(2000), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_saved_views_owner_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("owner_id", "name", name="uq_saved_views_owner_name"),
    )
    op.create_index("ix_saved_views_owner_id", "saved_views", ["owner_id"])
    op.create_index("ix_saved_views_shared", "saved_views", ["shared"])

    op.create_table(
        "saved_view_defaults",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("view_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_saved_view_defaults_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["view_id"],
            ["saved_views.id"],
            name="fk_saved_view_defaults_view_id_saved_views",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_saved_view_defaults_view_id", "saved_view_defaults", ["view_id"])

    perms = sa.table("role_permissions", sa.column("role", sa.String), sa.column("action", sa.String))
    op.bulk_insert(perms, [{"role": r, "action": a} for r, acts in PERMISSIONS.items() for a in acts])


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM role_permissions WHERE action IN :actions").bindparams(
            sa.bindparam("actions", NEW_ACTIONS, expanding=True)
        )
    )
    op.drop_table("saved_view_defaults")
    op.drop_table("saved_views")
