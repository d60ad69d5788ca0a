"""Wire models of ``/api/v1/agencies``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from citysoc.api.params import NO_NUL, IdField
from citysoc.db.enums import AgencyKind

CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
AgencySort = Literal["code", "-code", "name", "-name", "created_at", "-created_at"]


class Contact(BaseModel):
    """A 24/7 contact."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    role: str = Field(default="", max_length=200, pattern=NO_NUL)
    phone: str = Field(default="", max_length=50, pattern=NO_NUL)
    email: str = Field(default="", max_length=200, pattern=NO_NUL)


class AgencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE, description="the code alerts and events carry")
    name: str = Field(min_length=1, max_length=300, pattern=NO_NUL)
    kind: AgencyKind
    parent_id: IdField | None = None
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


class AgencyPatch(BaseModel):
    """Fields to change (absent: unchanged). The code is fixed once created."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=300, pattern=NO_NUL)
    kind: AgencyKind | None = None
    parent_id: IdField | None = None
    contacts: list[Contact] | None = Field(default=None, max_length=20)


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    code: str
    name: str
    kind: AgencyKind
    parent_id: int | None
    contacts: list[Contact]
    created_at: datetime
    updated_at: datetime


class AgencyPage(BaseModel):
    items: list[AgencyOut]
    next_cursor: str | None
