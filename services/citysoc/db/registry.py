"""Registry tables: agencies and their information systems (Decree 85/2016, Directive 14/CT-TTg)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, enum_column, now
from citysoc.db.enums import AgencyKind, FunctionClass


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    """The code alerts and events carry (``agencies[].code`` in the config)."""
    name: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[AgencyKind] = mapped_column(enum_column(AgencyKind))
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    """24/7 contacts: ``[{name, role, phone, email}]``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class System(Base):
    __tablename__ = "systems"
    __table_args__ = (
        sa.CheckConstraint(
            "security_level IS NULL OR (security_level >= 1 AND security_level <= 5)", name="level"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(128), unique=True)
    """The system name alerts and events carry (``sources[].system`` in the config)."""
    name: Mapped[str] = mapped_column(sa.String(300))
    owner_agency_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    operator_agency_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    function_class: Mapped[FunctionClass] = mapped_column(enum_column(FunctionClass))
    information_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    security_level: Mapped[int | None] = mapped_column(sa.SmallInteger)
    approval_number: Mapped[str | None] = mapped_column(sa.String(100))
    approval_date: Mapped[date | None] = mapped_column(sa.Date)
    approver: Mapped[str | None] = mapped_column(sa.String(300))
    addresses: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    """Public IPs and CIDRs."""
    domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    services: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    """Operating systems and services, free text each (``"nginx 1.24"``)."""
    security_measures: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    security_provider: Mapped[str | None] = mapped_column(sa.String(300))
    connectivity_provider: Mapped[str | None] = mapped_column(sa.String(300))
    # Four-layer protection (Directive 14/CT-TTg): on-site staff, professional monitoring,
    # independent assessment (with its last date), connection to national monitoring.
    onsite_staff: Mapped[bool] = mapped_column(default=False)
    professional_monitoring: Mapped[bool] = mapped_column(default=False)
    independent_assessment: Mapped[bool] = mapped_column(default=False)
    last_assessment_date: Mapped[date | None] = mapped_column(sa.Date)
    national_monitoring: Mapped[bool] = mapped_column(default=False)
    log_sources: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    """Names of the collectors' sources that feed this system (hostnames, CIDRs or source ids)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
