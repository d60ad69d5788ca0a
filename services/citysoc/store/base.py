"""The store contract. ClickHouse (``citysoc.store.clickhouse``: chDB in-process, or a ClickHouse
server over HTTP) and the in-memory twin (``citysoc.store.memory``) both satisfy it;
``tests/store/test_contract.py`` runs one suite against each.

Semantics:

* Inserts are idempotent by id: inserting the same event/alert/dead letter twice leaves one logical row
  (ClickHouse: ReplacingMergeTree, read with ``FINAL``). Every read method returns deduplicated rows.
* An insert method returns only after the rows are durably stored; it raises ``StoreUnavailable``
  when the store cannot be reached (callers retry; nothing is acknowledged upstream before that).
* Methods are synchronous (no ``await``); async callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from citysoc.core.alert import Alert
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event


class StoreError(Exception):
    """A store operation failed for a reason retrying will not fix (bad query, schema mismatch)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; retry later."""


@dataclass(frozen=True, slots=True)
class AlertQuery:
    agency: str | None = None
    rule_id: str | None = None
    level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    before: tuple[datetime, str] | None = None
    """Cursor: only alerts strictly older than (detected_at, alert_id), newest first."""


@dataclass(frozen=True, slots=True)
class SourceActivity:
    """What one agency/system/source sent in a time range (from the per-minute monitoring rollups).

    For events and dead letters ``source`` is the sending address; alerts count against their agency
    and system with ``source`` ''. ``last_seen`` is None when only alerts were counted.
    """

    agency: str
    system: str
    source: str
    events: int
    bytes: int
    errors: int
    alerts: int
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class Counts:
    events: int
    distinct_events: int
    alerts: int
    distinct_alerts: int
    dead_letters: int


@dataclass(frozen=True, slots=True)
class StageState:
    """Persisted state of a stateful stream stage (correlation): ``data`` as of ``position``.

    ``position`` is the consumer offset after the last input the state includes (or any increasing
    number); for one name the highest position wins, so a stale writer cannot roll state back.
    """

    name: str
    position: int
    data: str


@dataclass(frozen=True, slots=True)
class EventSearch:
    """A search over stored events (retro-hunts), given in two forms that select the same events.

    * ``test``: the condition on a stored event, in Python. ``MemoryStore`` evaluates it.
    * ClickHouse SQL over the ``events`` table, which ``ClickHouseStore`` runs: ``where`` is a boolean
      expression that every matching row satisfies (it may admit rows that do not match) and ``sure``
      one that holds only on rows that match. ``aliases`` are ``(name, expression)`` pairs bound with
      ``WITH expression AS name`` before both; values are query parameters (``{name:Type}``, names
      starting with ``h_``) bound from ``params``. The caller checks the rows reported not sure itself.

    Window: ``since <= event_time < until``; ``agency`` (when set) restricts to that agency.
    """

    test: Callable[[Event], bool]
    since: datetime
    until: datetime
    agency: str | None = None
    where: str = "1"
    sure: str = "1"
    aliases: tuple[tuple[str, str], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 10_000


@dataclass(frozen=True, slots=True)
class FoundEvent:
    """One event selected by an :class:`EventSearch`. ``sure`` False: the SQL could not decide whether
    the event matches (the caller checks it with the search's ``test``)."""

    event_id: str
    event_time: datetime
    agency: str
    system: str
    host: str
    sure: bool


class Store(Protocol):
    def migrate(self) -> None:
        """Create or upgrade the schema; idempotent."""
        ...

    def insert_events(self, events: Sequence[Event]) -> None: ...

    def insert_alerts(self, alerts: Sequence[Alert]) -> None: ...

    def insert_dead_letters(self, dead: Sequence[DeadLetter]) -> None: ...

    def get_event(self, event_id: str) -> Event | None: ...

    def get_events(self, event_ids: Sequence[str]) -> list[Event]:
        """The stored events with these ids, in the order given; ids not stored (or not UUIDs) and
        repeated ids are left out."""
        ...

    def search_events(self, search: EventSearch) -> list[FoundEvent]:
        """Events selected by ``search`` (see :class:`EventSearch`), each once, ordered by event time
        then event id (as text), at most ``search.limit``. ``MemoryStore`` returns exactly the events
        passing ``test`` (all sure); ``ClickHouseStore`` those passing ``where``, flagged by ``sure``."""
        ...

    def events_received_since(self, since: datetime, limit: int, after: str | None = None) -> list[Event]:
        """Events with ``received_at >= since``, oldest first (ties by event id as text).

        ``after`` makes ``(since, after)`` a keyset cursor: only events strictly after it, so paging
        through many events that share one ``received_at`` (an HTTP batch) terminates.
        """
        ...

    def query_alerts(self, q: AlertQuery) -> list[Alert]:
        """Alerts matching ``q``, newest ``detected_at`` first, then by alert id descending."""
        ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def get_alerts(self, alert_ids: Sequence[str]) -> list[Alert]:
        """The stored alerts with these ids, in the order given; ids not stored and repeats left out.
        One query per 1,000 ids (an alert group's page, an evidence export), not one per id."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def apply_retention(self) -> None:
        """Delete events older than their security level's retention now. ClickHouse also drops them
        in background merges, and may not store an already-expired row at all."""
        ...

    def monitoring(self, since: datetime, until: datetime, agency: str | None = None) -> list[SourceActivity]:
        """Activity per (agency, system, source) in minutes ``since <= minute < until``, sorted by
        agency, system, source. Counts follow inserts: a batch stored twice counts twice here."""
        ...

    def get_watermark(self, name: str) -> datetime | None: ...

    def set_watermark(self, name: str, value: datetime) -> None: ...

    def save_states(self, states: Sequence[StageState]) -> None:
        """Persist stage states (one insert); per name the highest ``position`` wins."""
        ...

    def load_state(self, name: str) -> StageState | None:
        """The winning state for ``name`` (highest position), or None when none was saved."""
        ...

    def counts(self) -> Counts:
        """Row counts: raw (``count()``, duplicates possible) and deduplicated (``FINAL``/distinct)."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
