"""The statutory report forms (Circular 20/2017/TT-BTTTT), pure: which fields each kind has, how they
are pre-filled from the registry and the incident, and the rendered document and its SHA-256.

Form 03 (initial report) and form 04 (end-of-response report) follow the field lists in
``../shared/REGULATION.md`` (from a third-party reproduction of the forms); the progress report is
the center's own. A field's value is a string, a list of strings, or ``None`` (not filled).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from citysoc.core.config import ReportingSettings
from citysoc.db.enums import ReportKind

FieldValue = str | list[str] | None

_REPORTER = [
    ("reporter_name", "Reporter"),
    ("reporter_organisation", "Reporting organisation"),
    ("reporter_address", "Address"),
    ("reporter_phone", "Phone"),
    ("reporter_email", "Email"),
]
_SYSTEM = [
    ("operating_agency", "Operating agency (đơn vị vận hành)"),
    ("owner_agency", "Owner agency (chủ quản)"),
    ("system_name", "Information system"),
    ("system_security_level", "Security level"),
]
LABELS: Mapping[ReportKind, list[tuple[str, str]]] = {
    ReportKind.INITIAL: [
        *_REPORTER,
        ("contact_person", "Contact person"),
        *_SYSTEM,
        ("security_provider", "Security service provider"),
        ("connectivity_provider", "Connectivity provider"),
        ("incident_description", "Incident description"),
        ("detected_at", "Detected at"),
        ("current_status", "Current status"),
        ("detection_method", "Detection method"),
        ("parties_notified", "Parties already notified"),
        ("operating_systems", "Operating systems and versions"),
        ("services", "Services"),
        ("security_measures", "Security measures in place"),
        ("public_ips", "Public IP addresses"),
        ("domains", "Domain names"),
        ("system_purpose", "System purpose"),
        ("attachments", "Attachments"),
        ("confidentiality_request", "Confidentiality request"),
        ("support_requested", "Support requested"),
        ("report_time", "Report time"),
    ],
    ReportKind.PROGRESS: [
        *_REPORTER,
        *_SYSTEM,
        ("incident_code", "Incident"),
        ("current_status", "Current status"),
        ("actions_taken", "Actions taken"),
        ("next_steps", "Next steps"),
        ("support_requested", "Support requested"),
        ("report_time", "Report time"),
    ],
    ReportKind.END: [
        *_REPORTER,
        ("initial_report_number", "Initial report number"),
        ("initial_report_date", "Initial report date"),
        *_SYSTEM,
        ("incident_description", "Incident description"),
        ("detected_at", "Detected at"),
        ("outcome", "Outcome of the response"),
        ("lessons_learned", "Lessons learned"),
        ("attachments", "Attachments (progress reports, response plan, logs)"),
        ("report_time", "Report time"),
    ],
}
TITLES: Mapping[ReportKind, str] = {
    ReportKind.INITIAL: "INITIAL INCIDENT REPORT (Circular 20/2017/TT-BTTTT, form 03)",
    ReportKind.PROGRESS: "INCIDENT PROGRESS REPORT",
    ReportKind.END: "END-OF-RESPONSE REPORT (Circular 20/2017/TT-BTTTT, form 04)",
}


def keys(kind: ReportKind) -> frozenset[str]:
    return frozenset(k for k, _ in LABELS[kind])


@dataclass(frozen=True, slots=True)
class SystemFacts:
    name: str
    owner_agency: str
    operating_agency: str
    security_level: int | None
    security_provider: str | None
    connectivity_provider: str | None
    function_class: str
    addresses: Sequence[str]
    domains: Sequence[str]
    services: Sequence[str]
    security_measures: Sequence[str]


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    code: str
    title: str
    summary: str | None
    status: str
    detected_at: datetime
    detection_method: str
    """How it was detected (the rules of its alert groups, or "reported by hand")."""
    agencies_notified: Sequence[str]
    reporter_name: str
    report_time: datetime
    initial_report: tuple[str, datetime] | None = None
    """Number and date of the initial report (for form 04)."""
    progress_reports: Sequence[str] = field(default_factory=tuple)
    tlp: str = "TLP:AMBER"


def prefill(
    kind: ReportKind, r: ReportingSettings, inc: IncidentFacts, s: SystemFacts | None
) -> dict[str, FieldValue]:
    """Every field of ``kind``, filled from settings, registry and incident where they know it."""
    v: dict[str, FieldValue] = {
        "reporter_name": inc.reporter_name,
        "reporter_organisation": r.reporter_organisation,
        "reporter_address": r.reporter_address or None,
        "reporter_phone": r.reporter_phone or None,
        "reporter_email": r.reporter_email or None,
        "contact_person": inc.reporter_name,
        "incident_code": inc.code,
        "incident_description": inc.title + (f"\n{inc.summary}" if inc.summary else ""),
        "detected_at": inc.detected_at.isoformat(),
        "current_status": inc.status,
        "detection_method": inc.detection_method,
        "parties_notified": list(inc.agencies_notified),
        "confidentiality_request": inc.tlp,
        "report_time": inc.report_time.isoformat(),
        "attachments": list(inc.progress_reports) if kind == ReportKind.END else [],
    }
    if inc.initial_report is not None:
        v["initial_report_number"] = inc.initial_report[0]
        v["initial_report_date"] = inc.initial_report[1].date().isoformat()
    if s is not None:
        v |= {
            "operating_agency": s.operating_agency,
            "owner_agency": s.owner_agency,
            "system_name": s.name,
            "system_security_level": str(s.security_level) if s.security_level else None,
            "security_provider": s.security_provider,
            "connectivity_provider": s.connectivity_provider,
            "operating_systems": list(s.services),
            "services": list(s.services),
            "security_measures": list(s.security_measures),
            "public_ips": [a.removesuffix("/32").removesuffix("/128") for a in s.addresses],
            "domains": list(s.domains),
            "system_purpose": s.function_class,
        }
    return {k: v.get(k) for k, _ in LABELS[kind]}


def render(kind: ReportKind, number: str, fields: Mapping[str, FieldValue], recipients: Sequence[str]) -> str:
    """The document as plain text (what is approved, sent and hashed)."""
    lines = [TITLES[kind], f"No. {number}", "", "To: " + "; ".join(recipients), ""]
    for key, label in LABELS[kind]:
        value = fields.get(key)
        if isinstance(value, list):
            text = ", ".join(value) if value else "-"
        else:
            text = value if value not in (None, "") else "-"
        lines.append(f"{label}: {text}")
    return "\n".join(lines) + "\n"


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def subject(prefix: str, code: str, kind: ReportKind, number: str) -> str:
    return f"{prefix} {code}: {kind.value} report {number}"
