"""Wire models of ``/api/v1/saved-views``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from citysoc.api.incidents.models import NoNul
from citysoc.api.views.filters import ViewKind

Name = Annotated[str, Field(min_length=1, max_length=100), NoNul]
Query = Annotated[
    str,
    Field(
        max_length=2000,
        description="the alert queue's query string, e.g. `view=flat&level=high&range=24h` (keys: view, "
        "agency, status, level, rule, q, sort, limit, range; unknown keys or values are refused)",
    ),
    NoNul,
]
ViewSort = Literal["name", "-name", "updated_at", "-updated_at", "id", "-id"]


class SavedViewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    query: Query = ""
    shared: bool = Field(default=False, description="visible to every SOC member (needs view.share)")
    default: bool = Field(default=False, description="the view /alerts opens with for the caller")


class SavedViewPatch(BaseModel):
    """Only the fields given change. ``default`` is the caller's own choice (any view they see);
    the other fields need the owner, or ``view.manage`` for a shared view."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    query: Query | None = None
    shared: bool | None = None
    default: bool | None = None


class SavedViewOut(BaseModel):
    id: int
    name: str
    query: str
    """Canonical: known keys only, ``view`` first."""
    view: ViewKind
    shared: bool
    default: bool
    """The caller's default view."""
    mine: bool
    owner_id: int
    owner: str
    """The owner's user name."""
    created_at: datetime
    updated_at: datetime


class SavedViewPage(BaseModel):
    items: list[SavedViewOut]
    next_cursor: str | None
