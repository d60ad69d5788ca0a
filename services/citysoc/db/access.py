"""Access tables: users, the role → action table, and tokens (sessions and API tokens, hashed)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from citysoc.db.base import Base, UTCDateTime, enum_column, now
from citysoc.db.enums import Role, TokenKind


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # An agency officer belongs to exactly one agency: that agency scopes everything they see.
        sa.CheckConstraint("role != 'agency_officer' OR agency_id IS NOT NULL", name="officer_agency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(300), default="")
    email: Mapped[str | None] = mapped_column(sa.String(300))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    agency_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    password_hash: Mapped[str | None] = mapped_column(sa.String(300))
    """argon2id; ``None``: the user cannot log in with a password (API tokens only)."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role: Mapped[Role] = mapped_column(enum_column(Role), primary_key=True)
    action: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class Token(Base):
    """A bearer token: only its SHA-256 is stored (tokens are 256-bit random, so a fast hash is
    enough; passwords use argon2)."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(enum_column(TokenKind))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    """The first characters of the token, to recognise it in listings."""
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    """Actions this token may use (always intersected with the user's role's actions)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
