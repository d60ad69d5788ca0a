"""Incidents, tasks, comments, observables, evidence and custody, incident reports, suppression
rules; alert groups' foreign key to incidents and their suppression column; permissions for the new
actions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Values are literal here (not imported from the package) so this migration means the same forever.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INCIDENT_STATUSES = [
    "new",
    "triage",
    "in_progress",
    "containment",
    "recovery",
    "resolved",
    "closed",
    "dismissed",
]
SEVERITIES = ["low", "medium", "high", "critical"]
DETERMINATIONS = ["true_positive", "benign_positive", "false_positive", "inconclusive"]
OBSERVABLE_KINDS = [
    "ipv4",
    "ipv6",
    "domain",
    "url",
    "email",
    "md5",
    "sha1",
    "sha256",
    "file_name",
    "user_account",
]
NEW_ACTIONS = [
    "incident.read",
    "incident.write",
    "incident.contribute",
    "report.read",
    "report.write",
    "report.approve",
    "stats.read",
    "suppression.read",
    "suppression.write",
]
PERMISSIONS = {
    "city_soc_admin": NEW_ACTIONS,
    "soc_lead": NEW_ACTIONS,
    "soc_analyst": [
        "incident.read",
        "incident.write",
        "incident.contribute",
        "report.read",
        "report.write",
        "stats.read",
        "suppression.read",
    ],
    "rule_author": ["stats.read", "suppression.read"],
    "auditor": ["incident.read", "report.read", "stats.read", "suppression.read"],
    "agency_officer": ["incident.read", "incident.contribute", "report.read"],
}


def _enum(name: str, values: list[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, col: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [col], [f"{target}.id"], name=f"fk_{table}_{col}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("severity", _enum("severity", SEVERITIES), nullable=False),
        sa.Column("tlp", sa.String(32), nullable=False),
        sa.Column("pap", sa.String(32), nullable=False),
        sa.Column("status", _enum("incidentstatus", INCIDENT_STATUSES), nullable=False),
        sa.Column("assignee_id", sa.Integer, nullable=True),
        sa.Column("lead_agency_id", sa.Integer, nullable=True),
        sa.Column("serious", sa.Boolean, nullable=False),
        sa.Column("beyond_capability", sa.Boolean, nullable=False),
        sa.Column("determination", _enum("determination", DETERMINATIONS), nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("merged_into_id", sa.Integer, nullable=True),
        _ts("detected_at"),
        _ts("acknowledged_at", True),
        _ts("contained_at", True),
        _ts("resolved_at", True),
        _ts("closed_at", True),
        _ts("report_due_at"),
        _ts("initial_report_at", True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("incidents", "assignee_id", "users", "SET NULL"),
        _fk("incidents", "lead_agency_id", "agencies", "RESTRICT"),
        _fk("incidents", "merged_into_id", "incidents", "SET NULL"),
        sa.UniqueConstraint("code", name="uq_incidents_code"),
    )
    for col in ("status", "lead_agency_id", "detected_at", "report_due_at"):
        op.create_index(f"ix_incidents_{col}", "incidents", [col])

    op.create_table(
        "incident_agencies",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("agency_id", sa.Integer, primary_key=True),
        sa.Column("role", _enum("incidentagencyrole", ["affected", "coordinating"]), primary_key=True),
        _fk("incident_agencies", "incident_id", "incidents", "CASCADE"),
        _fk("incident_agencies", "agency_id", "agencies", "RESTRICT"),
    )
    op.create_index("ix_incident_agencies_agency_id", "incident_agencies", ["agency_id"])

    op.create_table(
        "incident_systems",
        sa.Column("incident_id", sa.Integer, primary_key=True),
        sa.Column("system_id", sa.Integer, primary_key=True),
        _fk("incident_systems", "incident_id", "incidents", "CASCADE"),
        _fk("incident_systems", "system_id", "systems", "RESTRICT"),
    )
    op.create_index("ix_incident_systems_system_id", "incident_systems", ["system_id"])

    op.create_table(
        "incident_counters",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )

    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=False),
        sa.Column("assignee_id", sa.Integer, nullable=True),
        _ts("due_at", True),
        sa.Column(
            "status", _enum("taskstatus", ["open", "in_progress", "done", "cancelled"]), nullable=False
        ),
        sa.Column("mandatory", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        _ts("completed_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("incident_tasks", "incident_id", "incidents", "CASCADE"),
        _fk("incident_tasks", "agency_id", "agencies", "RESTRICT"),
        _fk("incident_tasks", "assignee_id", "users", "SET NULL"),
    )
    op.create_index("ix_incident_tasks_incident_id", "incident_tasks", ["incident_id"])
    op.create_index("ix_incident_tasks_agency_id", "incident_tasks", ["agency_id"])

    op.create_table(
        "incident_comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("agency_id", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        _ts("created_at"),
        _fk("incident_comments", "incident_id", "incidents", "CASCADE"),
        _fk("incident_comments", "agency_id", "agencies", "SET NULL"),
    )
    op.create_index("ix_incident_comments_incident_id", "incident_comments", ["incident_id"])

    op.create_table(
        "incident_observables",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("kind", _enum("observablekind", OBSERVABLE_KINDS), nullable=False),
        sa.Column("value", sa.String(2000), nullable=False),
        sa.Column("tlp", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        _ts("first_seen", True),
        _ts("last_seen", True),
        sa.Column("sightings", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _fk("incident_observables", "incident_id", "incidents", "CASCADE"),
        sa.UniqueConstraint("incident_id", "kind", "value", name="uq_incident_observables_value"),
    )
    op.create_index("ix_incident_observables_incident_id", "incident_observables", ["incident_id"])

    op.create_table(
        "incident_evidence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("acquired_by", sa.String(300), nullable=False),
        _ts("acquired_at"),
        sa.Column("export_id", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _fk("incident_evidence", "incident_id", "incidents", "CASCADE"),
    )
    op.create_index("ix_incident_evidence_incident_id", "incident_evidence", ["incident_id"])

    op.create_table(
        "evidence_custody",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("evidence_id", sa.Integer, nullable=False),
        _ts("at"),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        _fk("evidence_custody", "evidence_id", "incident_evidence", "CASCADE"),
    )
    op.create_index("ix_evidence_custody_evidence_id", "evidence_custody", ["evidence_id"])

    op.create_table(
        "incident_reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, nullable=False),
        sa.Column("kind", _enum("reportkind", ["initial", "progress", "end"]), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", _enum("reportstatus", ["draft", "approved", "sent"]), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("approved_by", sa.String(200), nullable=True),
        _ts("approved_at", True),
        _ts("sent_at", True),
        _fk("incident_reports", "incident_id", "incidents", "RESTRICT"),
        sa.UniqueConstraint("incident_id", "number", name="uq_incident_reports_number"),
    )
    op.create_index("ix_incident_reports_incident_id", "incident_reports", ["incident_id"])

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("rule_id", sa.String(200), nullable=True),
        sa.Column("agency", sa.String(64), nullable=True),
        sa.Column("system", sa.String(128), nullable=True),
        sa.Column("key", sa.JSON, nullable=False),
        _ts("expires_at"),
        _ts("revoked_at", True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        _ts("created_at"),
        _fk("suppressions", "owner_id", "users", "SET NULL"),
        sa.CheckConstraint(
            "rule_id IS NOT NULL OR agency IS NOT NULL OR system IS NOT NULL", name="ck_suppressions_criteria"
        ),
    )
    op.create_index("ix_suppressions_expires_at", "suppressions", ["expires_at"])

    # SQLite cannot add a constraint in place: batch mode copies the table (its CHECK constraints
    # are reflected and kept under their names; tests/db checks they still hold).
    with op.batch_alter_table("alert_groups") as batch:
        batch.create_foreign_key(
            "fk_alert_groups_incident_id_incidents", "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
        batch.add_column(sa.Column("suppression_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_alert_groups_suppression_id_suppressions",
            "suppressions",
            ["suppression_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_alert_groups_suppression_id", ["suppression_id"])

    perms = sa.table("role_permissions", sa.column("role", sa.String), sa.column("action", sa.String))
    op.bulk_insert(perms, [{"role": r, "action": a} for r, acts in PERMISSIONS.items() for a in acts])


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_index("ix_alert_groups_suppression_id")
        batch.drop_constraint("fk_alert_groups_suppression_id_suppressions", type_="foreignkey")
        batch.drop_column("suppression_id")
        batch.drop_constraint("fk_alert_groups_incident_id_incidents", type_="foreignkey")
    op.execute(
        sa.text("DELETE FROM role_permissions WHERE action IN :actions").bindparams(
            sa.bindparam("actions", NEW_ACTIONS, expanding=True)
        )
    )
    for table in (
        "suppressions",
        "incident_reports",
        "evidence_custody",
        "incident_evidence",
        "incident_observables",
        "incident_comments",
        "incident_tasks",
        "incident_counters",
        "incident_systems",
        "incident_agencies",
        "incidents",
    ):
        op.drop_table(table)
