"""Saved alert-queue views: a name for a stored query string of the queue (``/alerts?<query>``).

A view belongs to the user who saved it; ``shared`` makes it visible to every SOC member (never to
agency officers). A user's default view is a row of ``saved_view_defaults`` (one per user, any view
the user can see), so choosing a shared view as one's default changes nothing for its owner.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, now


class SavedView(Base):
    __tablename__ = "saved_views"
    __table_args__ = (sa.UniqueConstraint("owner_id", "name", name="uq_saved_views_owner_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    query: Mapped[str] = mapped_column(sa.String(2000))
    """The queue's query string (known keys only, validated when saved and again when applied)."""
    shared: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class SavedViewDefault(Base):
    """The view ``/alerts`` opens with for a user (when the address names no filter)."""

    __tablename__ = "saved_view_defaults"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    view_id: Mapped[int] = mapped_column(sa.ForeignKey("saved_views.id", ondelete="CASCADE"), index=True)
