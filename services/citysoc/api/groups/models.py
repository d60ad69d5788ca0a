"""Wire models of ``/api/v1/alert-groups``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from citysoc.api.params import IdField
from citysoc.core.alert import Level
from citysoc.db.enums import DismissReason, GroupStatus

GroupSort = Literal[
    "last_seen", "-last_seen", "first_seen", "-first_seen", "count", "-count", "level", "-level", "id", "-id"
]


class GroupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    fingerprint: str
    rule_id: str
    title: str
    level: Level
    agency: str
    system: str
    key: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    count: int
    status: GroupStatus
    dismiss_reason: DismissReason | None
    assignee_id: int | None
    incident_id: int | None
    suppression_id: int | None
    """The suppression rule holding the group (it still counts, but raises nothing)."""
    updated_at: datetime


class GroupPage(BaseModel):
    items: list[GroupOut]
    next_cursor: str | None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: GroupStatus
    reason: DismissReason | None = Field(default=None, description="required when dismissing")


class BulkTransitionIn(TransitionIn):
    ids: list[IdField] = Field(min_length=1, max_length=500)


class BulkItem(BaseModel):
    id: int
    ok: bool
    status: GroupStatus | None = None
    error: str | None = None


class BulkOut(BaseModel):
    changed: int
    results: list[BulkItem]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee_id: IdField | None = Field(description="null: unassign")
