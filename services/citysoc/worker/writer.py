"""The batching writer: every table the worker writes, in few large inserts, flushed by size or age.

Contract:

* :meth:`BatchWriter.add` buffers rows (events, dead letters, alerts); nothing is written yet.
* :meth:`BatchWriter.due` is true once ``max_rows`` rows are buffered or the oldest buffered row is
  ``max_age_s`` old. The caller polls less while it is due (the buffer is bounded: a full writer
  pushes back on the consumer, it never grows without limit).
* :meth:`BatchWriter.flush` writes every buffered table (one insert per table, events first so an
  alert never points at an event that is not stored) and returns only when the store acknowledged
  all of them. While the store is unavailable it retries with backoff (the pipeline pauses, nothing
  is dropped, nothing is committed). Inserts are idempotent by deterministic ids, so a flush retried
  after a partial failure, or replayed after a crash, duplicates nothing.
* The caller commits the consumed offsets only after ``flush`` returned (``run_worker`` does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from citysoc.core.alert import Alert
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.store.base import Store
from citysoc.worker.steps import retry, timed


@dataclass
class WriterLimits:
    max_rows: int = 20_000
    """Flush once this many rows (all tables together) are buffered."""
    max_age_s: float = 0.5
    """Flush once the oldest buffered row is this old (bounds alert latency on a quiet stream)."""
    max_backoff_s: float = 10.0


@dataclass
class BatchWriter:
    store: Store
    limits: WriterLimits = field(default_factory=WriterLimits)
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    _since: float | None = None

    def add(
        self, *, events: Sequence[Event] = (), dead: Sequence[DeadLetter] = (), alerts: Sequence[Alert] = ()
    ) -> None:
        if (events or dead or alerts) and self._since is None:
            self._since = time.monotonic()
        self.events.extend(events)
        self.dead.extend(dead)
        self.alerts.extend(alerts)

    @property
    def rows(self) -> int:
        return len(self.events) + len(self.dead) + len(self.alerts)

    def due(self) -> bool:
        if self.rows >= self.limits.max_rows:
            return True
        return self._since is not None and time.monotonic() - self._since >= self.limits.max_age_s

    def age_left(self) -> float:
        """Seconds until the age limit makes a flush due (the limit itself when nothing is buffered)."""
        if self._since is None:
            return self.limits.max_age_s
        return max(0.0, self.limits.max_age_s - (time.monotonic() - self._since))

    async def flush(self) -> list[Alert]:
        """Write everything buffered (see the module contract); returns the alerts written."""
        store, mb = self.store, self.limits.max_backoff_s
        events, dead, alerts = self.events, self.dead, self.alerts
        if events:
            await timed(
                "store_events",
                len(events),
                retry("store_events", mb, asyncio.to_thread, store.insert_events, events),
            )
        if dead:
            await retry("store_dead", mb, asyncio.to_thread, store.insert_dead_letters, dead)
        if alerts:
            await timed(
                "store_alerts",
                len(alerts),
                retry("store_alerts", mb, asyncio.to_thread, store.insert_alerts, alerts),
            )
        self.events, self.dead, self.alerts, self._since = [], [], [], None
        return alerts
