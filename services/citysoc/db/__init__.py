"""The relational database of what people change: registry, users and tokens, alert groups,
incidents and their reports, audit.

SQLAlchemy 2 (async) over SQLite (embedded default) or PostgreSQL (production), schema by Alembic
migrations shipped in ``citysoc/db/migrations`` and applied at every start (``citysoc db upgrade``).
Alert occurrences, events and metrics stay in ClickHouse.
"""

from citysoc.db.access import RolePermission, Token, User
from citysoc.db.audit import AuditEntry, AuditHead
from citysoc.db.base import Base
from citysoc.db.engine import Database
from citysoc.db.incidents import (
    Comment,
    CustodyEntry,
    Evidence,
    Incident,
    IncidentAgency,
    IncidentCounter,
    IncidentSystem,
    Observable,
    Task,
)
from citysoc.db.registry import Agency, System
from citysoc.db.reports import Report
from citysoc.db.suppressions import Suppression
from citysoc.db.triage import AlertGroup, SeenAlert
from citysoc.db.views import SavedView, SavedViewDefault

__all__ = [
    "Agency",
    "AlertGroup",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Comment",
    "CustodyEntry",
    "Database",
    "Evidence",
    "Incident",
    "IncidentAgency",
    "IncidentCounter",
    "IncidentSystem",
    "Observable",
    "Report",
    "RolePermission",
    "SavedView",
    "SavedViewDefault",
    "SeenAlert",
    "Suppression",
    "System",
    "Task",
    "Token",
    "User",
]
