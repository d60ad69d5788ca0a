"""Wire models of ``/api/v1/suppressions``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from citysoc.api.incidents.models import NoNul, UtcDatetime
from citysoc.api.params import IdField

KeyValue = Annotated[str, Field(max_length=500), NoNul]


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200), NoNul]
    justification: Annotated[
        str, Field(min_length=10, max_length=5000, description="why (10+ characters)"), NoNul
    ]
    owner_id: IdField | None = Field(default=None, description="default: the caller")
    rule_id: Annotated[str | None, Field(min_length=1, max_length=200), NoNul] = None
    agency: Annotated[str | None, Field(min_length=1, max_length=64), NoNul] = None
    system: Annotated[str | None, Field(min_length=1, max_length=128), NoNul] = None
    key: Annotated[dict[Annotated[str, Field(max_length=100), NoNul], KeyValue], Field(max_length=20)] = {}
    expires_at: UtcDatetime

    @model_validator(mode="after")
    def _criteria(self) -> Self:
        if self.rule_id is None and self.agency is None and self.system is None:
            raise ValueError("a suppression names at least one of rule_id, agency, system")
        return self


class SuppressionOut(BaseModel):
    id: int
    name: str
    justification: str
    owner_id: int | None
    owner: str
    rule_id: str | None
    agency: str | None
    system: str | None
    key: dict[str, str]
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    created_at: datetime
    active: bool
    groups: int
    """Alert groups currently marked with this rule."""
    alerts: int
    """Their occurrences (still stored and counted)."""


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_cursor: str | None
