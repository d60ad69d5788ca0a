"""Registry, access, alert groups and audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-20

Values are literal here (not imported from the package) so this migration means the same forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

AGENCY_KINDS = ["city_department", "district", "ward", "public_service_unit"]
FUNCTION_CLASSES = [
    "internal_operations",
    "citizen_services",
    "information_infrastructure",
    "industrial_control",
    "other",
]
ROLES = ["city_soc_admin", "soc_lead", "soc_analyst", "rule_author", "auditor", "agency_officer"]
ACTIONS = [
    "agency.read",
    "agency.write",
    "system.read",
    "system.write",
    "user.read",
    "user.write",
    "role.read",
    "role.write",
    "token.own",
    "group.read",
    "group.triage",
    "group.assign",
    "audit.read",
    "audit.verify",
    "alert.read",
]
_REGISTRY_READ = ["agency.read", "system.read", "role.read"]
PERMISSIONS = {
    "city_soc_admin": ACTIONS,
    "soc_lead": [a for a in ACTIONS if a != "role.write"],
    "soc_analyst": [*_REGISTRY_READ, "user.read", "token.own", "group.read", "group.triage", "alert.read"],
    "rule_author": [*_REGISTRY_READ, "token.own", "group.read", "alert.read"],
    "auditor": [*_REGISTRY_READ, "user.read", "group.read", "audit.read", "audit.verify", "alert.read"],
    "agency_officer": [*_REGISTRY_READ, "agency.write", "system.write", "token.own", "group.read"],
}


def _enum(name: str, values: list[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _bigint() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", _enum("agencykind", AGENCY_KINDS), nullable=False),
        sa.Column("parent_id", sa.Integer, nullable=True),
        sa.Column("contacts", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["agencies.id"], name="fk_agencies_parent_id_agencies", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("code", name="uq_agencies_code"),
    )
    op.create_index("ix_agencies_parent_id", "agencies", ["parent_id"])

    op.create_table(
        "systems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(128), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("owner_agency_id", sa.Integer, nullable=False),
        sa.Column("operator_agency_id", sa.Integer, nullable=False),
        sa.Column("function_class", _enum("functionclass", FUNCTION_CLASSES), nullable=False),
        sa.Column("information_types", sa.JSON, nullable=False),
        sa.Column("security_level", sa.SmallInteger, nullable=True),
        sa.Column("approval_number", sa.String(100), nullable=True),
        sa.Column("approval_date", sa.Date, nullable=True),
        sa.Column("approver", sa.String(300), nullable=True),
        sa.Column("addresses", sa.JSON, nullable=False),
        sa.Column("domains", sa.JSON, nullable=False),
        sa.Column("services", sa.JSON, nullable=False),
        sa.Column("security_measures", sa.JSON, nullable=False),
        sa.Column("security_provider", sa.String(300), nullable=True),
        sa.Column("connectivity_provider", sa.String(300), nullable=True),
        sa.Column("onsite_staff", sa.Boolean, nullable=False),
        sa.Column("professional_monitoring", sa.Boolean, nullable=False),
        sa.Column("independent_assessment", sa.Boolean, nullable=False),
        sa.Column("last_assessment_date", sa.Date, nullable=True),
        sa.Column("national_monitoring", sa.Boolean, nullable=False),
        sa.Column("log_sources", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["owner_agency_id"],
            ["agencies.id"],
            name="fk_systems_owner_agency_id_agencies",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["operator_agency_id"],
            ["agencies.id"],
            name="fk_systems_operator_agency_id_agencies",
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("code", name="uq_systems_code"),
        sa.CheckConstraint(
            "security_level IS NULL OR (security_level >= 1 AND security_level <= 5)", name="ck_systems_level"
        ),
    )
    op.create_index("ix_systems_owner_agency_id", "systems", ["owner_agency_id"])
    op.create_index("ix_systems_operator_agency_id", "systems", ["operator_agency_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("email", sa.String(300), nullable=True),
        sa.Column("role", _enum("role", ROLES), nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=True),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("last_login_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name="fk_users_agency_id_agencies", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint(
            "role != 'agency_officer' OR agency_id IS NOT NULL", name="ck_users_officer_agency"
        ),
    )
    op.create_index("ix_users_agency_id", "users", ["agency_id"])

    perms = op.create_table(
        "role_permissions",
        sa.Column("role", _enum("role", ROLES), primary_key=True),
        sa.Column("action", sa.String(64), primary_key=True),
    )
    op.bulk_insert(perms, [{"role": r, "action": a} for r, acts in PERMISSIONS.items() for a in acts])

    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("kind", _enum("tokenkind", ["session", "api"]), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("digest", name="uq_tokens_digest"),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])

    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("level_rank", sa.SmallInteger, nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("system", sa.String(128), nullable=False),
        sa.Column("key", sa.JSON, nullable=False),
        _ts("first_seen"),
        _ts("last_seen"),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column(
            "status", _enum("groupstatus", ["new", "acknowledged", "escalated", "dismissed"]), nullable=False
        ),
        sa.Column(
            "dismiss_reason", _enum("dismissreason", ["false_positive", "benign", "duplicate"]), nullable=True
        ),
        sa.Column("assignee_id", sa.Integer, nullable=True),
        sa.Column("incident_id", sa.Integer, nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name="fk_alert_groups_assignee_id_users", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("fingerprint", name="uq_alert_groups_fingerprint"),
        sa.CheckConstraint(
            "(status = 'dismissed') = (dismiss_reason IS NOT NULL)", name="ck_alert_groups_dismiss_reason"
        ),
    )
    op.create_index("ix_alert_groups_rule_id", "alert_groups", ["rule_id"])
    op.create_index("ix_alert_groups_system", "alert_groups", ["system"])
    op.create_index("ix_alert_groups_last_seen", "alert_groups", ["last_seen"])
    op.create_index("ix_alert_groups_incident_id", "alert_groups", ["incident_id"])
    op.create_index("ix_alert_groups_agency_last_seen", "alert_groups", ["agency", "last_seen"])

    op.create_table(
        "seen_alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("group_id", sa.Integer, nullable=False),
        _ts("detected_at"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["alert_groups.id"], name="fk_seen_alerts_group_id_alert_groups", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_seen_alerts_group_id", "seen_alerts", ["group_id"])

    op.create_table(
        "audit_log",
        sa.Column("seq", _bigint(), primary_key=True, autoincrement=False),
        _ts("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("agency", sa.String(64), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", _bigint(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    for table in (
        "audit_head",
        "audit_log",
        "seen_alerts",
        "alert_groups",
        "tokens",
        "role_permissions",
        "users",
        "systems",
        "agencies",
    ):
        op.drop_table(table)
