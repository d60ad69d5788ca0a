"""Hunt test fixtures: stores of each kind (in-memory twin, chDB in-process) and event builders."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citysoc.core.config import StoreSettings
from citysoc.core.event import Event, Format, Logsource, stable_id
from citysoc.store.base import Store
from citysoc.store.clickhouse import ClickHouseStore
from citysoc.store.memory import MemoryStore

HAVE_CHDB = importlib.util.find_spec("chdb") is not None
T0 = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=2)
"""Recent, so the store's retention TTL (days since receipt) never drops the test events."""


def make_event(
    n: int,
    fields: Mapping[str, Any],
    *,
    product: str | None = None,
    service: str | None = None,
    category: str | None = None,
    fmt: Format = "json",
    raw: bytes = b"",
    agency: str = "police",
    at: datetime | None = None,
) -> Event:
    """Event number ``n`` (its id and time follow from ``n``) with the given fields and hints."""
    t = at or T0 + timedelta(seconds=n)
    return Event(
        event_id=stable_id("hunt-test", n),
        received_at=t,
        event_time=t,
        agency=agency,
        system="sys",
        source_host=f"host{n % 3}",
        source_ip="192.0.2.7",
        transport="replay",
        format=fmt,
        raw=raw,
        fields=dict(fields),
        logsource=Logsource(product, service, category),
    )


def chdb_store(path: Path) -> ClickHouseStore:
    return ClickHouseStore(StoreSettings(dsn=f"chdb://{path}", database=f"h_{uuid.uuid4().hex[:10]}"))


@pytest.fixture(
    params=["memory", pytest.param("chdb", marks=pytest.mark.skipif(not HAVE_CHDB, reason="no chdb"))]
)
def hunt_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[list[Event]], Store]]:
    """``make(events)``: a migrated store of each kind holding ``events``; closed after the test."""
    made: list[Store] = []

    def make(events: list[Event]) -> Store:
        s: Store = MemoryStore() if request.param == "memory" else chdb_store(tmp_path / "chdb")
        made.append(s)
        s.migrate()
        s.insert_events(events)
        return s

    yield make
    for s in made:
        s.close()
