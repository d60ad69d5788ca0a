"""Wire models of ``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/auth``, ``/api/v1/roles``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from citysoc.api.params import NO_NUL, IdField
from citysoc.db import User
from citysoc.db.enums import Action, Role, TokenKind

USERNAME = r"^[a-z0-9][a-z0-9_.@-]{1,99}$"
UserSort = Literal["username", "-username", "created_at", "-created_at"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME)
    display_name: str = Field(default="", max_length=300, pattern=NO_NUL)
    email: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    role: Role
    agency_id: IdField | None = Field(default=None, description="required for agency officers")
    password: str | None = Field(default=None, min_length=12, max_length=1000)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    email: str | None = Field(default=None, max_length=300, pattern=NO_NUL)
    role: Role | None = None
    agency_id: IdField | None = None
    password: str | None = Field(default=None, min_length=12, max_length=1000)
    active: bool | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    agency_id: int | None
    active: bool
    has_password: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            username=u.username,
            display_name=u.display_name,
            email=u.email,
            role=u.role,
            agency_id=u.agency_id,
            active=u.active,
            has_password=u.password_hash is not None,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
        )


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1000)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    scopes: list[Action] = Field(min_length=1, max_length=len(Action))
    expires_in_days: int = Field(default=90, ge=1, le=3650)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    user_id: int
    kind: TokenKind
    name: str
    prefix: str
    scopes: list[Action]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    token: str = Field(description="shown once; only its hash is stored")


class Me(BaseModel):
    user: UserOut | None = Field(description="null for a config admin token")
    role: Role
    agency_id: int | None
    agency_code: str | None
    actions: list[Action]


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserOut


class RoleOut(BaseModel):
    role: Role
    rank: int
    actions: list[Action]


class RolePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[Action] = Field(max_length=len(Action))
