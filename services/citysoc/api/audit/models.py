"""Wire models of ``/api/v1/audit``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    agency: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


class ProblemOut(BaseModel):
    seq: int
    problem: str


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    problems: list[ProblemOut]
