"""Detection watermark for the embedded mode (pure state, no I/O).

Invariant: every stored event with ``received_at < low_watermark()`` has been evaluated and its alerts
stored. Events enter with :meth:`begin` before they are stored and leave with :meth:`done` once their
alerts are stored; the watermark is the oldest receive time still in flight, or, when nothing is,
the newest receive time evaluated. After a crash, re-evaluating stored events from the persisted
watermark on covers everything; alert ids are deterministic, so the overlap creates no duplicates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from citysoc.core.event import Event


class PendingTracker:
    def __init__(self, start: datetime | None = None) -> None:
        self._pending: Counter[datetime] = Counter()
        self._high: datetime | None = start

    def begin(self, events: Iterable[Event]) -> None:
        for e in events:
            self._pending[e.received_at] += 1

    def _remove(self, events: Iterable[Event]) -> None:
        for e in events:
            n = self._pending[e.received_at] - 1
            if n > 0:
                self._pending[e.received_at] = n
            else:
                self._pending.pop(e.received_at, None)

    def abandon(self, events: Iterable[Event]) -> None:
        """The events were never stored (the insert failed): they are not due."""
        self._remove(events)

    def done(self, events: Iterable[Event]) -> None:
        events = list(events)
        self._remove(events)
        for e in events:
            if self._high is None or e.received_at > self._high:
                self._high = e.received_at

    def low_watermark(self) -> datetime | None:
        if self._pending:
            return min(self._pending)
        return self._high

    def in_flight(self) -> int:
        return sum(self._pending.values())
