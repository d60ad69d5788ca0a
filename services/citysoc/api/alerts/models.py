"""Wire models of the alerts API (the alert fields are those of ``schemas/alert.schema.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from citysoc.core.alert import Alert, AlertKind, Level


class AlertOut(BaseModel):
    alert_id: str
    rule_id: str
    title: str
    level: Level
    rule_status: str
    tags: list[str]
    agency: str
    system: str
    host: str
    event_ids: list[str]
    matched_fields: dict[str, str]
    time: datetime
    detected_at: datetime
    kind: AlertKind
    extra: dict[str, Any] = {}
    """Kind-specific details (correlation: count, window_start, window_end)."""

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls.model_validate(a.to_dict())


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None
