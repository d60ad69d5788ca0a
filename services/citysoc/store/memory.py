"""The in-memory twin of ``ClickHouseStore``: same contract, same results, nothing persisted.

For tests and the single-process demo. ``tests/store/test_contract.py`` runs one suite against both.
Semantics matched on purpose (see also ``citysoc.store.clickhouse``):

* Values are normalised through the same row conversion as ClickHouse (``citysoc.store.rows``): event
  ids must be UUIDs and come back canonical, times come back as aware UTC, fields/extra round-trip
  through JSON, empty logsource hints come back as ``None``.
* Dedup by id; the last inserted copy wins (ReplacingMergeTree keeps the last inserted row).
* Methods other than ``ping``/``close`` raise ``StoreError`` before ``migrate()`` (the tables do not
  exist yet) and after ``close()``.
* ``counts()``: raw counts model ClickHouse before any background merge: one row per distinct id per
  insert call (ClickHouse already collapses duplicates inside one insert block), so a batch inserted
  twice counts twice. ClickHouse's raw count can later fall as parts merge; the distinct counts are
  exact in both. ``dead_letters`` is a distinct count.
* Watermarks: the newest write wins. Stage states: the highest position wins (ties: the last write).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from citysoc.core.alert import Alert
from citysoc.core.config import StoreSettings
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event, utc
from citysoc.store import rows
from citysoc.store.base import (
    AlertQuery,
    Counts,
    EventSearch,
    FoundEvent,
    SourceActivity,
    StageState,
    StoreError,
)


class MemoryStore:
    """``citysoc.store.base.Store`` in process memory. Thread-safe (one lock)."""

    def __init__(self, retention_days: Mapping[int, int] | None = None) -> None:
        self._retention = dict(retention_days or StoreSettings().retention_days)
        self._lock = threading.Lock()
        self._migrated = False
        self._closed = False
        self._events: dict[str, Event] = {}
        self._alerts: dict[str, Alert] = {}
        self._dead: dict[str, DeadLetter] = {}
        self._watermarks: dict[str, datetime] = {}
        self._states: dict[str, StageState] = {}
        self._event_rows = 0
        self._rollup: dict[tuple[datetime, str, str, str], list[Any]] = {}
        self._alert_rows = 0

    def _check(self) -> None:
        # Called with the lock held.
        if self._closed:
            raise StoreError("the store is closed")
        if not self._migrated:
            raise StoreError("the store has no schema yet: call migrate() first")

    def migrate(self) -> None:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            self._migrated = True

    def insert_events(self, events: Sequence[Event]) -> None:
        try:
            normalised = [rows.row_to_event(rows.event_to_row(e)) for e in events]
        except (ValueError, TypeError) as ex:
            raise StoreError(f"insert_events failed: {ex}") from ex
        with self._lock:
            self._check()
            self._event_rows += _distinct(e.event_id for e in normalised)
            for e in normalised:
                self._events[e.event_id] = e
                self._roll(
                    e.received_at,
                    e.agency,
                    e.system,
                    e.source_ip,
                    events=1,
                    size=len(e.raw),
                    seen=e.received_at,
                )

    def insert_alerts(self, alerts: Sequence[Alert]) -> None:
        try:
            normalised = [rows.row_to_alert(rows.alert_to_row(a)) for a in alerts]
        except (ValueError, TypeError) as ex:
            raise StoreError(f"insert_alerts failed: {ex}") from ex
        with self._lock:
            self._check()
            self._alert_rows += _distinct(a.alert_id for a in normalised)
            for a in normalised:
                self._alerts[a.alert_id] = a
                self._roll(a.detected_at, a.agency, a.system, "", alerts=1)

    def insert_dead_letters(self, dead: Sequence[DeadLetter]) -> None:
        try:
            normalised = [rows.row_to_dead(rows.dead_to_row(d)) for d in dead]
        except (ValueError, TypeError) as ex:
            raise StoreError(f"insert_dead_letters failed: {ex}") from ex
        with self._lock:
            self._check()
            for d in normalised:
                self._dead[d.dead_id] = d
                self._roll(
                    d.received_at, d.agency, "", d.source_ip, errors=1, size=len(d.raw), seen=d.received_at
                )

    def get_event(self, event_id: str) -> Event | None:
        try:
            eid = rows.canonical_event_id(event_id)
        except ValueError:
            return None
        with self._lock:
            self._check()
            return self._events.get(eid)

    def get_events(self, event_ids: Sequence[str]) -> list[Event]:
        wanted: list[str] = []
        for eid in event_ids:
            try:
                wanted.append(rows.canonical_event_id(eid))
            except ValueError:
                continue
        with self._lock:
            self._check()
            found = [self._events[e] for e in dict.fromkeys(wanted) if e in self._events]
        return found

    def search_events(self, search: EventSearch) -> list[FoundEvent]:
        """Events in the window passing ``search.test`` (the twin does not read the SQL)."""
        since, until = utc(search.since), utc(search.until)
        with self._lock:
            self._check()
            window = [
                e
                for e in self._events.values()
                if since <= e.event_time < until and (search.agency is None or e.agency == search.agency)
            ]
        window.sort(key=lambda e: (e.event_time, e.event_id))
        out: list[FoundEvent] = []
        for e in window:  # the test runs outside the lock: it may be slow (a rule engine)
            if len(out) >= max(0, search.limit):
                break
            if search.test(e):
                out.append(FoundEvent(e.event_id, e.event_time, e.agency, e.system, e.source_host, True))
        return out

    def events_received_since(self, since: datetime, limit: int, after: str | None = None) -> list[Event]:
        """Events with ``received_at >= since``, oldest first, ties by event id; ``after``: keyset cursor
        (only events strictly after ``(since, after)``), as in ``ClickHouseStore``."""
        since = utc(since)
        with self._lock:
            self._check()
            found = [
                e
                for e in self._events.values()
                if e.received_at >= since and (after is None or (e.received_at, e.event_id) > (since, after))
            ]
        found.sort(key=lambda e: (e.received_at, e.event_id))
        return found[: max(0, limit)]

    def query_alerts(self, q: AlertQuery) -> list[Alert]:
        """Alerts matching ``q``: ``since <= detected_at < until``, cursor ``before`` exclusive."""
        since = utc(q.since) if q.since is not None else None
        until = utc(q.until) if q.until is not None else None
        before = (utc(q.before[0]), q.before[1]) if q.before is not None else None
        with self._lock:
            self._check()
            candidates = list(self._alerts.values())
        found = [
            a
            for a in candidates
            if (q.agency is None or a.agency == q.agency)
            and (q.rule_id is None or a.rule_id == q.rule_id)
            and (q.level is None or a.level == q.level)
            and (since is None or a.detected_at >= since)
            and (until is None or a.detected_at < until)
            and (before is None or (a.detected_at, a.alert_id) < before)
        ]
        found.sort(key=lambda a: (a.detected_at, a.alert_id), reverse=True)
        return found[: max(0, q.limit)]

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            self._check()
            return self._alerts.get(alert_id)

    def get_alerts(self, alert_ids: Sequence[str]) -> list[Alert]:
        with self._lock:
            self._check()
            return [self._alerts[a] for a in dict.fromkeys(alert_ids) if a in self._alerts]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest ``received_at`` first, then dead id descending."""
        with self._lock:
            self._check()
            found = list(self._dead.values())
        found.sort(key=lambda d: (d.received_at, d.dead_id), reverse=True)
        return found[: max(0, limit)]

    def apply_retention(self) -> None:
        now = datetime.now(UTC)
        with self._lock:
            self._check()
            for eid, e in list(self._events.items()):
                days = self._retention.get(e.security_level, self._retention.get(0, 365))
                if e.received_at + timedelta(days=days) < now:
                    del self._events[eid]

    def _roll(
        self,
        when: datetime,
        agency: str,
        system: str,
        source: str,
        *,
        events: int = 0,
        size: int = 0,
        errors: int = 0,
        alerts: int = 0,
        seen: datetime | None = None,
    ) -> None:
        """The per-minute rollup, as ClickHouse's materialized views keep it: one count per insert."""
        key = (when.replace(second=0, microsecond=0), agency, system, source)
        row = self._rollup.setdefault(key, [0, 0, 0, 0, None])
        row[0] += events
        row[1] += size
        row[2] += errors
        row[3] += alerts
        if seen is not None and (row[4] is None or seen > row[4]):
            row[4] = seen

    def monitoring(self, since: datetime, until: datetime, agency: str | None = None) -> list[SourceActivity]:
        low, high = utc(since).replace(second=0, microsecond=0), utc(until)
        totals: dict[tuple[str, str, str], list[Any]] = {}
        with self._lock:
            self._check()
            for (minute, ag, system, source), row in self._rollup.items():
                if low <= minute < high and (agency is None or ag == agency):
                    t = totals.setdefault((ag, system, source), [0, 0, 0, 0, None])
                    for i in range(4):
                        t[i] += row[i]
                    if row[4] is not None and (t[4] is None or row[4] > t[4]):
                        t[4] = row[4]
        return [SourceActivity(*key, *vals) for key, vals in sorted(totals.items())]

    def get_watermark(self, name: str) -> datetime | None:
        with self._lock:
            self._check()
            return self._watermarks.get(name)

    def set_watermark(self, name: str, value: datetime) -> None:
        value = utc(value)
        with self._lock:
            self._check()
            self._watermarks[name] = value

    def save_states(self, states: Sequence[StageState]) -> None:
        with self._lock:
            self._check()
            for st in states:
                old = self._states.get(st.name)
                if old is None or st.position >= old.position:  # ties: the last write wins
                    self._states[st.name] = StageState(st.name, st.position, st.data)

    def load_state(self, name: str) -> StageState | None:
        with self._lock:
            self._check()
            return self._states.get(name)

    def counts(self) -> Counts:
        with self._lock:
            self._check()
            return Counts(
                events=self._event_rows,
                distinct_events=len(self._events),
                alerts=self._alert_rows,
                distinct_alerts=len(self._alerts),
                dead_letters=len(self._dead),
            )

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True


def _distinct(ids: Iterable[str]) -> int:
    return len(set(ids))
