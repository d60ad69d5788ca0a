"""Incident tables: incidents, the agencies and systems they involve, their tasks, comments,
observables (IOCs), evidence records with custody logs, and the per-year code counter."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, enum_column, now
from citysoc.db.enums import (
    Determination,
    IncidentAgencyRole,
    IncidentStatus,
    ObservableKind,
    Severity,
    TaskStatus,
)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    """``INC-<year>-<nnnn>``, numbered per year of creation."""
    title: Mapped[str] = mapped_column(sa.String(500))
    category: Mapped[str] = mapped_column(sa.String(100))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity))
    tlp: Mapped[str] = mapped_column(sa.String(32))
    pap: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[IncidentStatus] = mapped_column(enum_column(IncidentStatus), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    lead_agency_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    serious: Mapped[bool] = mapped_column(default=False)
    """A serious incident (Decision 05/2017); set by the analyst."""
    beyond_capability: Mapped[bool] = mapped_column(default=False)
    """Beyond the operator's capability: the initial report is due immediately."""
    determination: Mapped[Determination | None] = mapped_column(enum_column(Determination))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id", ondelete="SET NULL"))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    """When the initial report (form 03) is due (from ``reporting`` settings when set)."""
    initial_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When an initial report was marked sent (stops the statutory clock)."""
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class IncidentAgency(Base):
    __tablename__ = "incident_agencies"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    role: Mapped[IncidentAgencyRole] = mapped_column(enum_column(IncidentAgencyRole), primary_key=True)


class IncidentSystem(Base):
    __tablename__ = "incident_systems"

    incident_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("systems.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class IncidentCounter(Base):
    """The last incident number given per year (row-locked while a code is taken)."""

    __tablename__ = "incident_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Task(Base):
    __tablename__ = "incident_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    """The agency that must do it (its officers see and update it)."""
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus), default=TaskStatus.OPEN)
    mandatory: Mapped[bool] = mapped_column(default=False)
    """Closing the incident needs every mandatory task done."""
    note: Mapped[str] = mapped_column(sa.Text, default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Comment(Base):
    __tablename__ = "incident_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(sa.String(200))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id", ondelete="SET NULL"))
    """The author's agency when an agency officer wrote it."""
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Observable(Base):
    __tablename__ = "incident_observables"
    __table_args__ = (
        sa.UniqueConstraint("incident_id", "kind", "value", name="uq_incident_observables_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ObservableKind] = mapped_column(enum_column(ObservableKind))
    value: Mapped[str] = mapped_column(sa.String(2000))
    tlp: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sightings: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Evidence(Base):
    __tablename__ = "incident_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(sa.String(500))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    acquired_by: Mapped[str] = mapped_column(sa.String(300))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    export_id: Mapped[str | None] = mapped_column(sa.String(200))
    """The evidence export archive this file came from, when it did."""
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CustodyEntry(Base):
    """One hand-over or handling of a piece of evidence (append-only, also in the audit chain)."""

    __tablename__ = "evidence_custody"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        sa.ForeignKey("incident_evidence.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(sa.String(64))
    """``acquired``, ``transferred``, ``stored``, ``examined``, ``released`` … (free vocabulary)."""
    holder: Mapped[str] = mapped_column(sa.String(300))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by: Mapped[str] = mapped_column(sa.String(200))
