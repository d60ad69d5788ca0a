"""Alerts: one per (rule, event), or per correlation window.

Contract (``schemas/alert.schema.json`` is the wire form):

* ``alert_id`` is deterministic: rule id + event id for single-event rules; rule id + group-by values
  + window start for correlation rules. Replays therefore never create a second alert.
* ``rule_status`` is the Sigma rule's own status (stable, test, experimental, ...), not a triage state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

import orjson

from citysoc.core.event import json_object, stable_id, utc

Level = Literal["informational", "low", "medium", "high", "critical"]
LEVELS: tuple[str, ...] = get_args(Level)
AlertKind = Literal["stream", "correlation", "hunt"]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)


def alert_id_for_event(rule_id: str, event_id: str) -> str:
    return stable_id("alert", rule_id, event_id)


def alert_id_for_window(rule_id: str, group_by: Sequence[tuple[str, str]], window_start: datetime) -> str:
    parts: list[object] = ["corr", rule_id, utc(window_start).isoformat()]
    for k, v in sorted(group_by):
        parts += [k, v]
    return stable_id(*parts)


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    rule_id: str
    title: str
    level: Level
    rule_status: str
    tags: tuple[str, ...]
    agency: str
    system: str
    host: str
    event_ids: tuple[str, ...]
    matched_fields: Mapping[str, str]
    time: datetime
    """Event time of the (last) matching event."""
    detected_at: datetime
    kind: AlertKind = "stream"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "rule_status": self.rule_status,
            "tags": list(self.tags),
            "agency": self.agency,
            "system": self.system,
            "host": self.host,
            "event_ids": list(self.event_ids),
            "matched_fields": dict(self.matched_fields),
            "time": utc(self.time).isoformat(),
            "detected_at": utc(self.detected_at).isoformat(),
            "kind": self.kind,
            "extra": dict(self.extra),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Alert:
        level = d["level"]
        kind = d.get("kind", "stream")
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        if kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {kind!r}")
        return cls(
            alert_id=str(d["alert_id"]),
            rule_id=str(d["rule_id"]),
            title=str(d["title"]),
            level=level,
            rule_status=str(d.get("rule_status", "")),
            tags=tuple(d.get("tags") or ()),
            agency=str(d["agency"]),
            system=str(d["system"]),
            host=str(d.get("host", "")),
            event_ids=tuple(d.get("event_ids") or ()),
            matched_fields={str(k): str(v) for k, v in (d.get("matched_fields") or {}).items()},
            time=utc(datetime.fromisoformat(d["time"])),
            detected_at=utc(datetime.fromisoformat(d["detected_at"])),
            kind=kind,
            extra=_extra(d.get("extra")),
        )

    @classmethod
    def from_json(cls, data: bytes) -> Alert:
        return cls.from_dict(json_object(data, "alert"))


def _extra(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("alert extra must be an object")
    return {str(k): v for k, v in value.items()}
