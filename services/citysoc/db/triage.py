"""Alert groups: one row per fingerprint (rule + agency + system + key fields), fed by the worker's
alerts; the occurrences themselves stay in ClickHouse. ``seen_alerts`` makes feeding idempotent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, enum_column, now
from citysoc.db.enums import DismissReason, GroupStatus


class AlertGroup(Base):
    __tablename__ = "alert_groups"
    __table_args__ = (
        sa.CheckConstraint("(status = 'dismissed') = (dismiss_reason IS NOT NULL)", name="dismiss_reason"),
        sa.Index("ix_alert_groups_agency_last_seen", "agency", "last_seen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    rule_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    level: Mapped[str] = mapped_column(sa.String(16))
    level_rank: Mapped[int] = mapped_column(sa.SmallInteger)
    """0 informational … 4 critical: sorts by severity."""
    agency: Mapped[str] = mapped_column(sa.String(64))
    """Agency code, as the alerts carry it (scopes agency officers)."""
    system: Mapped[str] = mapped_column(sa.String(128), index=True)
    key: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    """The key field values that, with rule, agency and system, make the fingerprint."""
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    count: Mapped[int] = mapped_column(default=0)
    status: Mapped[GroupStatus] = mapped_column(enum_column(GroupStatus), default=GroupStatus.NEW)
    dismiss_reason: Mapped[DismissReason | None] = mapped_column(enum_column(DismissReason))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    """The incident this group belongs to."""
    suppression_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("suppressions.id", ondelete="SET NULL"), index=True
    )
    """The active suppression rule matching the group when it was last fed (``None``: raises)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class SeenAlert(Base):
    __tablename__ = "seen_alerts"

    alert_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_groups.id", ondelete="CASCADE"), index=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
