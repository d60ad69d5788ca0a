"""Wire models of ``/api/v1/incidents`` (the incident itself, its state, clock and time metrics)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from citysoc.api.incidents.lifecycle import ClockState
from citysoc.api.params import IdField
from citysoc.db.enums import Determination, IncidentStatus, Severity


def _utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    if not 1970 <= v.year <= 9000:
        raise ValueError("datetime out of range (1970..9000)")
    return v.astimezone(UTC)


def _text[T](v: T) -> T:
    if isinstance(v, str) and "\x00" in v:
        raise ValueError("text must not contain NUL characters")
    return v


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""Aware or naive (taken as UTC) datetimes, normalised to UTC, within a sane range."""
Ids = Annotated[list[IdField], Field(max_length=200)]
Marking = Annotated[
    str, Field(min_length=1, max_length=32, description="e.g. TLP:AMBER, PAP:GREEN"), AfterValidator(_text)
]
Title = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_text)]
Category = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_text)]
LongText = Annotated[str, Field(max_length=20000), AfterValidator(_text)]
Reason = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_text)]
NoNul = AfterValidator(_text)
"""PostgreSQL text cannot hold NUL: refused as invalid input (422), never a server error."""
IncidentSort = Literal[
    "detected_at",
    "-detected_at",
    "created_at",
    "-created_at",
    "report_due_at",
    "-report_due_at",
    "severity",
    "-severity",
    "id",
    "-id",
]


class IncidentIn(BaseModel):
    """A new incident, from alert groups (``group_ids``) or by hand. Agencies and systems named by
    the groups (and the owners of the systems) are added to the affected ones."""

    model_config = ConfigDict(extra="forbid")
    title: Title
    category: Category = "other"
    severity: Severity = Severity.MEDIUM
    tlp: Marking = "TLP:AMBER"
    pap: Marking = "PAP:AMBER"
    detected_at: UtcDatetime | None = Field(
        default=None, description="default: the earliest first-seen of the groups, else now"
    )
    group_ids: Ids = []
    affected_agency_ids: Ids = []
    coordinating_agency_ids: Ids = []
    lead_agency_id: IdField | None = None
    system_ids: Ids = []
    assignee_id: IdField | None = None
    serious: bool = False
    beyond_capability: bool = False
    summary: LongText | None = None


class IncidentPatch(BaseModel):
    """Only the fields given change; agency and system lists are replaced as a whole."""

    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    category: Category | None = None
    severity: Severity | None = None
    tlp: Marking | None = None
    pap: Marking | None = None
    detected_at: UtcDatetime | None = None
    affected_agency_ids: Ids | None = None
    coordinating_agency_ids: Ids | None = None
    lead_agency_id: IdField | None = None
    system_ids: Ids | None = None
    assignee_id: IdField | None = None
    serious: bool | None = None
    beyond_capability: bool | None = None
    determination: Determination | None = None
    summary: LongText | None = None


class ReportClock(BaseModel):
    due_at: datetime
    sent_at: datetime | None
    state: ClockState


class TimeMetrics(BaseModel):
    """Seconds from detection; ``null`` until the milestone is reached."""

    time_to_acknowledge_s: float | None
    time_to_contain_s: float | None
    time_to_resolve_s: float | None


class IncidentOut(BaseModel):
    id: int
    code: str
    title: str
    category: str
    severity: Severity
    tlp: str
    pap: str
    status: IncidentStatus
    assignee_id: int | None
    lead_agency_id: int | None
    affected_agency_ids: list[int]
    coordinating_agency_ids: list[int]
    system_ids: list[int]
    group_ids: list[int]
    serious: bool
    beyond_capability: bool
    determination: Determination | None
    summary: str | None
    merged_into_id: int | None
    detected_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    initial_report: ReportClock
    metrics: TimeMetrics
    created_by: str
    created_at: datetime
    updated_at: datetime


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: IncidentStatus
    reason: Reason | None = Field(default=None, description="required when dismissing or reopening")


class GroupsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_ids: Annotated[list[IdField], Field(min_length=1, max_length=200)]


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident_id: IdField = Field(description="the incident merged into this one (it is dismissed)")


class ClockItem(BaseModel):
    id: int
    code: str
    title: str
    status: IncidentStatus
    serious: bool
    beyond_capability: bool
    detected_at: datetime
    due_at: datetime
    state: ClockState
    seconds_left: float
    """Negative when overdue."""


class ClockOut(BaseModel):
    now: datetime
    due: int
    overdue: int
    items: list[ClockItem]


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    hash: str


class TimelinePage(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None
