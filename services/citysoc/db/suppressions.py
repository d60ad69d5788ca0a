"""Suppression rules: alert groups they match are marked suppressed (still stored and counted, but
raising nothing) while the rule is active (not revoked, not expired)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, now


class Suppression(Base):
    __tablename__ = "suppressions"
    __table_args__ = (
        sa.CheckConstraint(
            "rule_id IS NOT NULL OR agency IS NOT NULL OR system IS NOT NULL", name="criteria"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    justification: Mapped[str] = mapped_column(sa.Text)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    """Who answers for it (``None``: created by a config admin token without a user row)."""
    owner: Mapped[str] = mapped_column(sa.String(200))
    rule_id: Mapped[str | None] = mapped_column(sa.String(200))
    agency: Mapped[str | None] = mapped_column(sa.String(64))
    system: Mapped[str | None] = mapped_column(sa.String(128))
    key: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    """Key field values a group must have (all of them) to match."""
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
