"""Shared helpers for the detection tests: build engine input events without envelope noise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from citysoc.core.event import Event, Format, Logsource

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def make_event(
    fields: Mapping[str, Any],
    *,
    product: str | None = None,
    service: str | None = None,
    category: str | None = None,
    raw: str = "",
    fmt: Format = "json",
) -> Event:
    """An Event carrying ``fields`` and logsource hints; envelope values are fixed dummies."""
    t = datetime(2026, 1, 1, tzinfo=UTC)
    return Event(
        event_id="00000000-0000-8000-8000-000000000000",
        received_at=t,
        event_time=t,
        agency="test",
        system="test",
        source_host="host",
        source_ip="192.0.2.1",
        transport="replay",
        format=fmt,
        raw=raw.encode(),
        fields=dict(fields),
        logsource=Logsource(product, service, category),
    )
