"""Conversion between the core types and the rows of the ClickHouse tables (``store/sql/*.sql``).

Both stores go through these functions: ``ClickHouseStore`` to build inserts and decode results,
``MemoryStore`` to normalise what it keeps (``row_to_event(event_to_row(e))``), so the two return
the same values for the same input by construction:

* ids: event ids must be UUIDs (the ``events.event_id`` column is ``UUID``) and come back in the
  canonical lower-case form; alert and dead letter ids are kept as given.
* times come back as aware UTC datetimes (naive input is taken as UTC), microsecond precision.
* ``raw`` is kept byte-exact; ``Event.fields`` and ``Alert.extra`` round-trip through JSON, so they
  come back as plain JSON values (tuples become lists).
* unknown Sigma logsource hints (``None``) are stored as ``''`` and an empty hint comes back as ``None``.

Row values are in the column order of the ``*_COLUMNS`` tuples, which name each column and its
ClickHouse type (passed to clickhouse-connect so an insert needs no ``DESCRIBE`` round trip).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import orjson

from citysoc.core.alert import Alert, AlertKind, Level
from citysoc.core.deadletter import DeadLetter, Reason
from citysoc.core.event import Event, Format, Logsource, Transport, utc

TS = "DateTime64(6, 'UTC')"
LC = "LowCardinality(String)"

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "UUID"),
    ("received_at", TS),
    ("event_time", TS),
    ("agency", LC),
    ("system", LC),
    ("source_host", "String"),
    ("source_ip", "String"),
    ("transport", LC),
    ("format", LC),
    ("ls_product", LC),
    ("ls_service", LC),
    ("ls_category", LC),
    ("raw", "String"),
    ("fields", "String"),
    ("field_map", "Map(String, String)"),
    ("collector", LC),
    ("attributed", "Bool"),
    ("security_level", "UInt8"),
)

ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("alert_id", "String"),
    ("rule_id", LC),
    ("title", "String"),
    ("level", LC),
    ("rule_status", LC),
    ("tags", "Array(String)"),
    ("agency", LC),
    ("system", LC),
    ("host", "String"),
    ("event_ids", "Array(String)"),
    ("matched_fields", "Map(String, String)"),
    ("time", TS),
    ("detected_at", TS),
    ("kind", LC),
    ("extra", "String"),
)

DEAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dead_id", "String"),
    ("received_at", TS),
    ("agency", LC),
    ("source_ip", "String"),
    ("transport", LC),
    ("reason", LC),
    ("detail", "String"),
    ("raw", "String"),
    ("collector", LC),
)

WATERMARK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "String"),
    ("value", TS),
    ("version", "UInt64"),
    ("updated_at", TS),
)

STATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "String"),
    ("position", "UInt64"),
    ("data", "String"),
    ("updated_at", TS),
)

_EVENT_NAMES = tuple(n for n, _ in EVENT_COLUMNS)
_ALERT_NAMES = tuple(n for n, _ in ALERT_COLUMNS)
_DEAD_NAMES = tuple(n for n, _ in DEAD_COLUMNS)


def canonical_event_id(event_id: str) -> str:
    """The canonical text of an event id; ``ValueError`` when it is not a UUID."""
    return str(uuid.UUID(event_id))


def field_text(value: Any) -> str:
    """A field value as text for ``events.field_map``: strings verbatim, ``None`` as ``''``, else JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return orjson.dumps(value, default=str).decode()


def _json(value: Mapping[str, Any]) -> str:
    # default=str mirrors Event.to_json: a non-JSON value (a datetime, say) is kept as its text.
    return orjson.dumps(dict(value), default=str).decode()


def _json_obj(text: str) -> dict[str, Any]:
    if not text:
        return {}
    obj = orjson.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("stored JSON is not an object")
    return obj


def _bytes(value: bytes | str) -> bytes:
    # clickhouse-connect returns String columns as bytes when asked to (column_formats "bytes").
    return value if isinstance(value, bytes) else value.encode("utf-8")


def event_to_row(e: Event) -> list[Any]:
    """Raises ``ValueError`` when the event id is not a UUID."""
    ls = e.logsource
    return [
        uuid.UUID(e.event_id),
        utc(e.received_at),
        utc(e.event_time),
        e.agency,
        e.system,
        e.source_host,
        e.source_ip,
        e.transport,
        e.format,
        ls.product or "",
        ls.service or "",
        ls.category or "",
        bytes(e.raw),
        _json(e.fields),
        {str(k): field_text(v) for k, v in e.fields.items()},
        e.collector,
        bool(e.attributed),
        int(e.security_level),
    ]


def row_to_event(row: Sequence[Any]) -> Event:
    """Inverse of :func:`event_to_row` (``field_map`` is derived from ``fields`` and not read back)."""
    r = dict(zip(_EVENT_NAMES, row, strict=True))
    eid = r["event_id"]
    return Event(
        event_id=str(eid) if isinstance(eid, uuid.UUID) else canonical_event_id(eid),
        received_at=utc(r["received_at"]),
        event_time=utc(r["event_time"]),
        agency=r["agency"],
        system=r["system"],
        source_host=r["source_host"],
        source_ip=r["source_ip"],
        transport=cast(Transport, r["transport"]),
        format=cast(Format, r["format"]),
        raw=_bytes(r["raw"]),
        fields=_json_obj(r["fields"]),
        logsource=Logsource(r["ls_product"] or None, r["ls_service"] or None, r["ls_category"] or None),
        collector=r["collector"],
        attributed=bool(r["attributed"]),
        security_level=int(r["security_level"]),
    )


def alert_to_row(a: Alert) -> list[Any]:
    return [
        a.alert_id,
        a.rule_id,
        a.title,
        a.level,
        a.rule_status,
        list(a.tags),
        a.agency,
        a.system,
        a.host,
        list(a.event_ids),
        {str(k): str(v) for k, v in a.matched_fields.items()},
        utc(a.time),
        utc(a.detected_at),
        a.kind,
        _json(a.extra),
    ]


def row_to_alert(row: Sequence[Any]) -> Alert:
    r = dict(zip(_ALERT_NAMES, row, strict=True))
    return Alert(
        alert_id=r["alert_id"],
        rule_id=r["rule_id"],
        title=r["title"],
        level=cast(Level, r["level"]),
        rule_status=r["rule_status"],
        tags=tuple(r["tags"]),
        agency=r["agency"],
        system=r["system"],
        host=r["host"],
        event_ids=tuple(r["event_ids"]),
        matched_fields=dict(r["matched_fields"]),
        time=utc(r["time"]),
        detected_at=utc(r["detected_at"]),
        kind=cast(AlertKind, r["kind"]),
        extra=_json_obj(r["extra"]),
    )


def dead_to_row(d: DeadLetter) -> list[Any]:
    return [
        d.dead_id,
        utc(d.received_at),
        d.agency,
        d.source_ip,
        d.transport,
        d.reason,
        d.detail,
        bytes(d.raw),
        d.collector,
    ]


def row_to_dead(row: Sequence[Any]) -> DeadLetter:
    r = dict(zip(_DEAD_NAMES, row, strict=True))
    return DeadLetter(
        dead_id=r["dead_id"],
        received_at=utc(r["received_at"]),
        agency=r["agency"],
        source_ip=r["source_ip"],
        transport=cast(Transport, r["transport"]),
        reason=cast(Reason, r["reason"]),
        detail=r["detail"],
        raw=_bytes(r["raw"]),
        collector=r["collector"],
    )


def micros(dt: datetime) -> int:
    """Microseconds since the Unix epoch (UTC; naive taken as UTC): how queries bind times.

    Binding integers (``fromUnixTimestamp64Micro({x:Int64}, 'UTC')``) keeps microsecond precision
    and avoids any time zone interpretation of a datetime literal by the client or the server.
    """
    d = utc(dt) - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


_EPOCH = utc(datetime(1970, 1, 1))
