"""Incident reports (Circular 20/2017 forms 03 and 04, progress reports): draft → approved → sent,
each kept with the SHA-256 of its rendered document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, enum_column, now
from citysoc.db.enums import ReportKind, ReportStatus


class Report(Base):
    __tablename__ = "incident_reports"
    __table_args__ = (sa.UniqueConstraint("incident_id", "number", name="uq_incident_reports_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind))
    number: Mapped[int] = mapped_column()
    """1, 2, … per incident, in order of drafting."""
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus), default=ReportStatus.DRAFT)
    fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    """The form's fields (pre-filled from registry and incident, then edited while a draft)."""
    document: Mapped[str] = mapped_column(sa.Text)
    """The rendered document (plain text), re-rendered on every draft change, frozen on approval."""
    sha256: Mapped[str] = mapped_column(sa.String(64))
    recipients: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_by: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
