"""The compact record correlation state machines consume, and the partition key that routes it.

Contract:

* :class:`CorrelationInput` carries what correlation needs of one event: ids, event time, envelope
  attribution (agency, system, host, source ip), the ids of the base rules it hit, and only the event
  fields the targeted correlation rules read (original spelling and JSON value). Its JSON form
  (``to_json``/``from_json``) is what the worker publishes to ``citysoc.correlation``.
* ``correlation_id`` names the one correlation rule the record is for (the partitioned path: one record
  per rule and group, keyed by :func:`partition_key`); None means "every correlation rule the hits
  feed" (the single-process path).
* Field lookup (:func:`field_text`) is case-insensitive like the matcher; a ``None`` value is absent;
  lists are compared as their JSON text. When the event has no such field, the envelope attributes
  ``agency``, ``system``, ``source_host`` and ``source_ip`` answer for those four names, so rules can
  group by agency.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from citysoc.core.event import Event, json_object, stable_id, utc
from citysoc.detection.view import to_str

RECORD_VERSION: Final = 1

type GroupPairs = tuple[tuple[str, str], ...]
"""(group-by name, value text) in the rule's group-by order."""


@dataclass(frozen=True, slots=True)
class CorrelationInput:
    event_id: str
    event_time: datetime
    agency: str
    system: str
    host: str
    source_ip: str
    hits: tuple[str, ...]
    """Ids of the base rules the event hit (only those some correlation rule references)."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """The event fields the targeted correlation rules read; nothing else travels."""
    correlation_id: str | None = None
    """The correlation rule this record is for; None: every rule its hits feed."""

    def envelope(self, key: str) -> str | None:
        """Envelope attribute answering for a casefolded field name the event does not have."""
        match key:
            case "agency":
                return self.agency
            case "system":
                return self.system
            case "source_host":
                return self.host
            case "source_ip":
                return self.source_ip
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "event_id": self.event_id,
            "event_time": utc(self.event_time).isoformat(),
            "agency": self.agency,
            "system": self.system,
            "host": self.host,
            "source_ip": self.source_ip,
            "hits": list(self.hits),
            "fields": dict(self.fields),
            "correlation_id": self.correlation_id,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CorrelationInput:
        """Inverse of :meth:`to_dict`; ``KeyError``/``ValueError``/``TypeError`` when malformed."""
        if d.get("v") != RECORD_VERSION:
            raise ValueError(f"unsupported correlation record version {d.get('v')!r}")
        hits = d["hits"]
        fields = d.get("fields") or {}
        if not isinstance(hits, list) or not isinstance(fields, dict):
            raise ValueError("correlation record: hits must be a list, fields an object")
        cid = d.get("correlation_id")
        return cls(
            event_id=str(d["event_id"]),
            event_time=utc(datetime.fromisoformat(d["event_time"])),
            agency=str(d["agency"]),
            system=str(d["system"]),
            host=str(d.get("host", "")),
            source_ip=str(d.get("source_ip", "")),
            hits=tuple(str(h) for h in hits),
            fields=fields,
            correlation_id=None if cid is None else str(cid),
        )

    @classmethod
    def from_json(cls, data: bytes) -> CorrelationInput:
        return cls.from_dict(json_object(data, "correlation record"))


def folded_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Casefolded name -> first non-null value (fields are flat; duplicates by case are rare)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is not None:
            out.setdefault(name.casefold(), value)
    return out


def pick_fields(fields: Mapping[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    """The subset of ``fields`` (original spelling) whose casefolded name is in ``keys``."""
    return {name: value for name, value in fields.items() if value is not None and name.casefold() in keys}


def field_text(inp: CorrelationInput, folded: Mapping[str, Any], key: str) -> str | None:
    """Text of field ``key`` (casefolded) as group-by / distinct value; envelope fallback; None absent."""
    value = folded.get(key)
    if value is None:
        return inp.envelope(key)
    return to_str(list(value) if isinstance(value, tuple) else value)


MAX_CLOCK_AHEAD: Final = timedelta(seconds=30)
"""How far an event's own time may run ahead of its receive time. A sender whose clock is wrong by
years must not move every correlation window's watermark and make everyone else's events late: kept
below the allowed lateness (60 s by default), a capped event cannot do that."""


def correlation_time(event: Event) -> datetime:
    """The event time correlation uses: the event's own, capped at ``received_at + MAX_CLOCK_AHEAD``."""
    return min(utc(event.event_time), utc(event.received_at) + MAX_CLOCK_AHEAD)


def input_from_event(
    event: Event, hit_ids: Sequence[str], needed: frozenset[str], correlation_id: str | None = None
) -> CorrelationInput:
    return CorrelationInput(
        event_id=event.event_id,
        event_time=correlation_time(event),
        agency=event.agency,
        system=event.system,
        host=event.source_host,
        source_ip=event.source_ip,
        hits=tuple(hit_ids),
        fields=pick_fields(event.fields, needed),
        correlation_id=correlation_id,
    )


def partition_key(rule_id: str, group: GroupPairs) -> bytes:
    """Stable, bounded bus key for (correlation rule, group): all of a group's records share a partition."""
    return stable_id("corr-key", rule_id, *(part for pair in group for part in pair)).encode("ascii")
