"""Wire models of incident reports and periodic city reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from citysoc.api.incidents.models import NoNul
from citysoc.api.params import IdField
from citysoc.db.enums import ReportKind, ReportStatus

Value = (
    Annotated[str, Field(max_length=20000), NoNul]
    | Annotated[list[Annotated[str, Field(max_length=2000), NoNul]], Field(max_length=200)]
    | None
)
Fields = Annotated[dict[Annotated[str, Field(max_length=64)], Value], Field(max_length=64)]


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ReportKind
    system_id: IdField | None = Field(
        default=None, description="the system the form describes (default: the incident's first)"
    )
    fields: Fields = Field(default_factory=dict, description="values overriding the pre-filled ones")


class ReportPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: Fields


class ReportTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["approved", "sent", "draft"]


class ReportOut(BaseModel):
    id: int
    incident_id: int
    kind: ReportKind
    number: str
    status: ReportStatus
    fields: dict[str, str | list[str] | None]
    document: str
    sha256: str
    subject: str
    recipients: list[str]
    created_by: str
    created_at: datetime
    updated_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None


Period = Literal["q1", "q2", "q3", "q4", "h1", "h2", "year"]


class Count(BaseModel):
    key: str
    count: int


class Durations(BaseModel):
    """Seconds; over the incidents that reached the milestone."""

    count: int
    mean_s: float | None
    median_s: float | None


class RuleCount(BaseModel):
    rule_id: str
    groups: int
    alerts: int


class SuppressedCount(BaseModel):
    suppression_id: int
    name: str
    groups: int
    alerts: int


class Coverage(BaseModel):
    """Four-layer protection of the registered systems (Directive 14/CT-TTg), now."""

    systems: int
    onsite_staff: int
    professional_monitoring: int
    independent_assessment: int
    national_monitoring: int


class PeriodicReport(BaseModel):
    year: int
    period: Period
    start: datetime
    end: datetime
    incidents: int
    serious: int
    by_status: list[Count]
    by_severity: list[Count]
    by_category: list[Count]
    by_agency: list[Count]
    """Per affected agency code (an incident counts once for each agency it affects)."""
    time_to_acknowledge: Durations
    time_to_contain: Durations
    time_to_resolve: Durations
    initial_reports_on_time: int
    initial_reports_late: int
    initial_reports_missing: int
    top_rules: list[RuleCount]
    """Rules by alert groups first seen in the period (with their alert counts)."""
    suppressed: list[SuppressedCount]
    """Alert groups first seen in the period that a suppression rule holds: counted, never silent."""
    coverage: Coverage
