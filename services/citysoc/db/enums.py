"""Closed vocabularies of the relational model: agency kinds, registry classes, roles and their ranks,
actions (what a permission grants), triage statuses. Stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class AgencyKind(StrEnum):
    CITY_DEPARTMENT = "city_department"
    DISTRICT = "district"
    WARD = "ward"
    PUBLIC_SERVICE_UNIT = "public_service_unit"


class FunctionClass(StrEnum):
    """Function classes of an information system (Decree 85/2016)."""

    INTERNAL_OPERATIONS = "internal_operations"
    CITIZEN_SERVICES = "citizen_services"
    INFORMATION_INFRASTRUCTURE = "information_infrastructure"
    INDUSTRIAL_CONTROL = "industrial_control"
    OTHER = "other"


class InformationType(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    PERSONAL = "personal"
    STATE_SECRET = "state_secret"


class Role(StrEnum):
    """User roles, highest rank first (see ``RANK``)."""

    CITY_SOC_ADMIN = "city_soc_admin"
    SOC_LEAD = "soc_lead"
    SOC_ANALYST = "soc_analyst"
    RULE_AUTHOR = "rule_author"
    AUDITOR = "auditor"
    AGENCY_OFFICER = "agency_officer"


RANK: dict[Role, int] = {
    Role.CITY_SOC_ADMIN: 60,
    Role.SOC_LEAD: 50,
    Role.SOC_ANALYST: 40,
    Role.RULE_AUTHOR: 30,
    Role.AUDITOR: 20,
    Role.AGENCY_OFFICER: 10,
}
"""A user may grant only roles ranked below their own (the city SOC admin may grant any)."""


class Action(StrEnum):
    """What a permission allows. Which role holds which action is data (table ``role_permissions``)."""

    AGENCY_READ = "agency.read"
    AGENCY_WRITE = "agency.write"
    SYSTEM_READ = "system.read"
    SYSTEM_WRITE = "system.write"
    USER_READ = "user.read"
    USER_WRITE = "user.write"
    ROLE_READ = "role.read"
    ROLE_WRITE = "role.write"
    TOKEN_OWN = "token.own"
    """Create, list and revoke one's own API tokens."""
    GROUP_READ = "group.read"
    GROUP_TRIAGE = "group.triage"
    GROUP_ASSIGN = "group.assign"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    ALERT_READ = "alert.read"
    """The ClickHouse-backed alert, event and monitoring views (every agency's)."""
    INCIDENT_READ = "incident.read"
    """Incidents, their tasks, comments, observables, evidence, timeline (scoped for officers)."""
    INCIDENT_WRITE = "incident.write"
    """Create, edit and move incidents through their states; link alert groups; manage tasks."""
    INCIDENT_CONTRIBUTE = "incident.contribute"
    """Comment, add observables and evidence, and update the tasks of one's own agency."""
    REPORT_READ = "report.read"
    REPORT_WRITE = "report.write"
    """Draft incident reports (forms 03/04, progress reports)."""
    REPORT_APPROVE = "report.approve"
    """Approve and mark reports sent."""
    STATS_READ = "stats.read"
    """City-wide periodic reports (every agency's numbers)."""
    SUPPRESSION_READ = "suppression.read"
    SUPPRESSION_WRITE = "suppression.write"
    """Create and revoke suppression rules (every agency's alerts)."""
    VIEW_READ = "view.read"
    """List saved alert-queue views: one's own and (outside agency scope) those shared with the SOC."""
    VIEW_WRITE = "view.write"
    """Save, rename, change and delete one's own queue views; choose one's default view."""
    VIEW_SHARE = "view.share"
    """Share one's own saved views with every SOC member (officers never see shared views)."""
    VIEW_MANAGE = "view.manage"
    """Edit and delete any shared view, not only one's own."""


_READ_REGISTRY = {Action.AGENCY_READ, Action.SYSTEM_READ, Action.ROLE_READ}
DEFAULT_PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.CITY_SOC_ADMIN: frozenset(Action),
    Role.SOC_LEAD: frozenset(Action) - {Action.ROLE_WRITE, Action.VIEW_MANAGE},
    Role.SOC_ANALYST: frozenset(
        _READ_REGISTRY
        | {Action.USER_READ, Action.TOKEN_OWN, Action.GROUP_READ, Action.GROUP_TRIAGE, Action.ALERT_READ}
        | {Action.INCIDENT_READ, Action.INCIDENT_WRITE, Action.INCIDENT_CONTRIBUTE}
        | {Action.REPORT_READ, Action.REPORT_WRITE, Action.STATS_READ, Action.SUPPRESSION_READ}
        | {Action.VIEW_READ, Action.VIEW_WRITE}
    ),
    Role.RULE_AUTHOR: frozenset(
        _READ_REGISTRY
        | {Action.TOKEN_OWN, Action.GROUP_READ, Action.ALERT_READ, Action.STATS_READ, Action.SUPPRESSION_READ}
        | {Action.VIEW_READ, Action.VIEW_WRITE}
    ),
    Role.AUDITOR: frozenset(
        _READ_REGISTRY
        | {Action.USER_READ, Action.GROUP_READ, Action.AUDIT_READ, Action.AUDIT_VERIFY, Action.ALERT_READ}
        | {Action.INCIDENT_READ, Action.REPORT_READ, Action.STATS_READ, Action.SUPPRESSION_READ}
        | {Action.VIEW_READ}  # auditors read the shared views, but save none
    ),
    # Agency officers keep their own agency's registry entries current and work on the incidents
    # their agency is part of; every query they make is scoped to their agency.
    Role.AGENCY_OFFICER: frozenset(
        _READ_REGISTRY
        | {Action.AGENCY_WRITE, Action.SYSTEM_WRITE, Action.TOKEN_OWN, Action.GROUP_READ}
        | {Action.INCIDENT_READ, Action.INCIDENT_CONTRIBUTE, Action.REPORT_READ}
        | {Action.VIEW_READ, Action.VIEW_WRITE}  # their views are re-scoped to their agency when applied
    ),
}
"""The permissions the migrations seed (0001, plus the actions 0002 and 0003 add); change them later
through ``/api/v1/roles``."""


class TokenKind(StrEnum):
    SESSION = "session"
    API = "api"


class GroupStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    DISMISSED = "dismissed"


class DismissReason(StrEnum):
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"
    DUPLICATE = "duplicate"


class IncidentStatus(StrEnum):
    """Incident states; the transition table is ``citysoc.api.incidents.lifecycle.TRANSITIONS``."""

    NEW = "new"
    TRIAGE = "triage"
    IN_PROGRESS = "in_progress"
    CONTAINMENT = "containment"
    RECOVERY = "recovery"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DISMISSED = "dismissed"


class Severity(StrEnum):
    """The center's own severity (the statutory forms carry none)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Determination(StrEnum):
    TRUE_POSITIVE = "true_positive"
    BENIGN_POSITIVE = "benign_positive"
    FALSE_POSITIVE = "false_positive"
    INCONCLUSIVE = "inconclusive"


class IncidentAgencyRole(StrEnum):
    """How an agency takes part in an incident (the lead agency is a column of the incident)."""

    AFFECTED = "affected"
    COORDINATING = "coordinating"


class TaskStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class ObservableKind(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    FILE_NAME = "file_name"
    USER_ACCOUNT = "user_account"


class ReportKind(StrEnum):
    INITIAL = "initial"
    """Circular 20/2017 form 03."""
    PROGRESS = "progress"
    END = "end"
    """Circular 20/2017 form 04, end-of-response report."""


class ReportStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
