"""The ClickHouse store: one implementation for chDB in-process and for a ClickHouse server over HTTP.

``StoreSettings.dsn`` selects the transport; everything else is the same code on clickhouse-connect:

* ``chdb:///abs/dir`` or ``chdb://./rel/dir`` (relative to the working directory): the chDB engine runs
  inside this process, which then owns the directory (only one process may open it). The directory
  is created when missing.
* ``http://host:8123`` / ``https://host:8443``: a ClickHouse server (or ``citysoc store serve``).

Contract details on top of ``citysoc.store.base`` (shared with ``MemoryStore``, see ``rows.py``):

* Tables live in ``StoreSettings.database`` (a plain identifier) and are named fully qualified, so the
  client never depends on a default database that may not exist before ``migrate()``.
* Every value reaches ClickHouse as a server-side query parameter (``{name:Type}``) or in the Native
  insert payload; only table names (from the validated database name) are written into SQL text.
* Reads use ``FINAL`` (ReplacingMergeTree), so each id appears once.
* ``counts()``: raw counts are ``count()`` without ``FINAL`` (duplicates not merged yet are counted, and
  the number can fall when parts merge); distinct counts are ``uniqExact(id)``; dead letters are
  counted distinct.
* Errors: ``StoreUnavailable`` when ClickHouse cannot be reached or says "try later" (transport
  errors, timeouts, too many parts, memory limit...); ``StoreError`` for everything else.
* Thread safety: methods may be called from several threads. The client is created lazily (a store
  can be built while ClickHouse is down) under a lock; clickhouse-connect's HTTP client is safe for
  concurrent queries without a session (``autogenerate_session_id=False``), and its chDB backend
  serializes calls on its handle itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

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
    StoreUnavailable,
)
from citysoc.store.schema import migrations, quote_identifier, split_statements
from citysoc.store.search import search_query

T = TypeVar("T")

# ClickHouse error codes that mean "the server is overloaded or the call was cut short": retrying
# later can succeed, so they map to StoreUnavailable (callers back off instead of dead-lettering).
_RETRYABLE_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION
    }
)


class _Target(NamedTuple):
    kind: str  # "chdb", "http" or "https"
    path: Path | None
    host: str
    port: int
    username: str
    password: str

    def describe(self) -> str:
        return f"chdb://{self.path}" if self.kind == "chdb" else f"{self.kind}://{self.host}:{self.port}"


def retention_ttl(days_by_level: dict[int, int]) -> str:
    """The events TTL expression for a retention policy (days per security level; level 0 = unknown).

    Only integers from validated settings reach the SQL text."""
    cases = ", ".join(
        f"security_level = {int(level)}, {int(days)}" for level, days in sorted(days_by_level.items())
    )
    return f"toDateTime(received_at) + toIntervalDay(multiIf({cases}, {int(days_by_level.get(0, 365))}))"


def parse_dsn(settings: StoreSettings) -> _Target:
    """Resolve ``settings.dsn``; chDB paths become absolute (relative to the working directory)."""
    dsn = settings.dsn
    if dsn.startswith("chdb://"):
        rest = dsn.removeprefix("chdb://")
        if not rest or "?" in rest or rest in ("memory", ":memory:"):
            raise ValueError(f"chdb DSN must name a directory, e.g. chdb:///var/lib/citysoc: {dsn!r}")
        return _Target("chdb", Path(rest).expanduser().absolute().resolve(), "", 0, "", "")
    parts = urlsplit(dsn)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"store DSN must be chdb://PATH or http(s)://HOST:PORT, not {dsn!r}")
    port = parts.port or (8443 if parts.scheme == "https" else 8123)
    user = unquote(parts.username) if parts.username else settings.username
    password = unquote(parts.password) if parts.password else settings.password
    return _Target(parts.scheme, None, parts.hostname, port, user, password)


def _translate(op: str, ex: Exception) -> StoreError:
    msg = f"{op} failed: {ex}"
    if isinstance(ex, OperationalError | OSError):
        return StoreUnavailable(msg)
    if isinstance(ex, DatabaseError) and getattr(ex, "code", None) in _RETRYABLE_CODES:
        return StoreUnavailable(msg)
    return StoreError(msg)


class ClickHouseStore:
    """``citysoc.store.base.Store`` on ClickHouse. See the module docstring for the details."""

    def __init__(
        self, settings: StoreSettings, *, connect_timeout: int = 10, send_receive_timeout: int = 300
    ) -> None:
        """Resolve the DSN (creating a chDB directory) without connecting: the first call connects.

        Raises ``ValueError`` for a malformed DSN or a database name that is not a plain identifier.
        Timeouts (seconds) apply to HTTP only.
        """
        self._target = parse_dsn(settings)
        if self._target.path is not None:
            self._target.path.mkdir(parents=True, exist_ok=True)
        self._db = settings.database
        self._retention = dict(settings.retention_days)
        db = quote_identifier(settings.database)
        self._t_events, self._t_alerts = f"{db}.events", f"{db}.alerts"
        self._t_mon, self._t_state = f"{db}.monitoring_minute", f"{db}.worker_state"
        self._t_dead, self._t_wm, self._t_mig = (
            f"{db}.dead_letters",
            f"{db}.watermarks",
            f"{db}.schema_migrations",
        )
        self._timeouts = (connect_timeout, send_receive_timeout)
        self._lock = threading.Lock()  # guards client creation and close
        self._migrate_lock = threading.Lock()
        self._version_lock = threading.Lock()
        self._client: Any = None
        self._closed = False
        self._last_version = 0

    # -- connection -------------------------------------------------------------------------------

    def _open(self) -> Any:
        t = self._target
        if t.kind == "chdb":
            # tz_mode="aware": DateTime64(6, 'UTC') columns come back as aware UTC datetimes.
            return clickhouse_connect.get_client(interface="chdb", path=str(t.path), tz_mode="aware")
        return clickhouse_connect.get_client(
            interface=t.kind,
            host=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            # Without a session the client may run queries from several threads at once.
            autogenerate_session_id=False,
            tz_mode="aware",
            connect_timeout=self._timeouts[0],
            send_receive_timeout=self._timeouts[1],
        )

    def _conn(self) -> Any:
        if self._closed:
            raise StoreError("the store is closed")
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._client is None:
                try:
                    self._client = self._open()
                except Exception as ex:
                    # Connection refused, or (chDB) another process holds the directory lock.
                    raise StoreUnavailable(
                        f"cannot open ClickHouse at {self._target.describe()}: {ex}"
                    ) from ex
            return self._client

    @contextmanager
    def _errors(self, op: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as ex:
            raise _translate(op, ex) from ex

    def _call(self, op: str, fn: Callable[[Any], T]) -> T:
        client = self._conn()
        with self._errors(op):
            return fn(client)

    def _select(
        self, op: str, sql: str, params: dict[str, Any], raw_col: bool = False
    ) -> list[Sequence[Any]]:
        fmt = {"raw": "bytes"} if raw_col else None
        result = self._call(op, lambda c: c.query(sql, parameters=params, column_formats=fmt))
        return list(result.result_rows)

    def _command(self, op: str, sql: str) -> None:
        self._call(op, lambda c: c.command(sql))

    def _insert(
        self, op: str, table: str, columns: tuple[tuple[str, str], ...], data: list[list[Any]]
    ) -> None:
        if not data:
            return
        self._call(
            op,
            lambda c: c.insert(
                table,
                data,
                column_names=[n for n, _ in columns],
                column_type_names=[t for _, t in columns],
                database=self._db,
            ),
        )

    # -- schema ---------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the packaged schema versions not yet recorded in ``schema_migrations``; idempotent.

        Every statement is ``IF NOT EXISTS``, so concurrent or interrupted migrations are safe to rerun.
        """
        with self._migrate_lock:
            exists = self._select(
                "migrate",
                "SELECT count() FROM system.tables"
                " WHERE database = {db:String} AND name = 'schema_migrations'",
                {"db": self._db},
            )
            applied: set[int] = set()
            if exists[0][0]:
                applied = {
                    r[0] for r in self._select("migrate", f"SELECT version FROM {self._t_mig} FINAL", {})
                }
            for m in migrations():
                if m.version in applied:
                    continue
                for stmt in split_statements(m.sql, self._db):
                    self._command(f"migrate {m.name}", stmt)
                row = [m.version, m.name, datetime.now(UTC)]
                cols = (("version", "UInt32"), ("name", "String"), ("applied_at", rows.TS))
                self._insert("migrate", "schema_migrations", cols, [row])
            # Retention is configuration: (re)apply the TTL for the current policy on every start.
            self._command(
                "retention", f"ALTER TABLE {self._t_events} MODIFY TTL {retention_ttl(self._retention)}"
            )

    def apply_retention(self) -> None:
        """Delete expired events now (ClickHouse otherwise applies the TTL during background merges)."""
        self._command("apply_retention", f"OPTIMIZE TABLE {self._t_events} FINAL")

    # -- writes ---------------------------------------------------------------------------------------

    def insert_events(self, events: Sequence[Event]) -> None:
        with self._errors("insert_events"):
            data = [rows.event_to_row(e) for e in events]
        self._insert("insert_events", "events", rows.EVENT_COLUMNS, data)

    def insert_alerts(self, alerts: Sequence[Alert]) -> None:
        with self._errors("insert_alerts"):
            data = [rows.alert_to_row(a) for a in alerts]
        self._insert("insert_alerts", "alerts", rows.ALERT_COLUMNS, data)

    def insert_dead_letters(self, dead: Sequence[DeadLetter]) -> None:
        with self._errors("insert_dead_letters"):
            data = [rows.dead_to_row(d) for d in dead]
        self._insert("insert_dead_letters", "dead_letters", rows.DEAD_COLUMNS, data)

    def set_watermark(self, name: str, value: datetime) -> None:
        """Record ``value`` for ``name``; the newest write wins (version = wall clock ns, increasing)."""
        with self._version_lock:
            version = self._last_version = max(time.time_ns(), self._last_version + 1)
        row = [name, utc(value), version, datetime.now(UTC)]
        self._insert("set_watermark", "watermarks", rows.WATERMARK_COLUMNS, [row])

    def save_states(self, states: Sequence[StageState]) -> None:
        now = datetime.now(UTC)
        data = [[st.name, st.position, st.data, now] for st in states]
        self._insert("save_states", "worker_state", rows.STATE_COLUMNS, data)

    # -- reads ----------------------------------------------------------------------------------------

    def get_event(self, event_id: str) -> Event | None:
        """The event with this id, or ``None`` (also for ids that are not UUIDs)."""
        try:
            eid = rows.canonical_event_id(event_id)
        except ValueError:
            return None
        # A natural-id event collected twice with different received_at lands in two partitions,
        # which FINAL does not merge: return the latest copy.
        found = self._select(
            "get_event",
            f"SELECT {_cols(rows.EVENT_COLUMNS)} FROM {self._t_events} FINAL "
            "WHERE event_id = {id:UUID} ORDER BY received_at DESC LIMIT 1",
            {"id": eid},
            raw_col=True,
        )
        with self._errors("get_event"):
            return rows.row_to_event(found[0]) if found else None

    def get_events(self, event_ids: Sequence[str]) -> list[Event]:
        """Latest stored copy of each id (as ``get_event``), in the order given, 1000 ids per query."""
        wanted: list[str] = []
        for eid in event_ids:
            try:
                wanted.append(rows.canonical_event_id(eid))
            except ValueError:
                continue
        wanted = list(dict.fromkeys(wanted))
        by_id: dict[str, Event] = {}
        for start in range(0, len(wanted), 1000):
            found = self._select(
                "get_events",
                f"SELECT {_cols(rows.EVENT_COLUMNS)} FROM {self._t_events} FINAL "
                "WHERE event_id IN {ids:Array(UUID)} ORDER BY received_at DESC LIMIT 1 BY event_id",
                {"ids": wanted[start : start + 1000]},
                raw_col=True,
            )
            with self._errors("get_events"):
                for r in found:
                    e = rows.row_to_event(r)
                    by_id[e.event_id] = e
        return [by_id[e] for e in wanted if e in by_id]

    def search_events(self, search: EventSearch) -> list[FoundEvent]:
        """See ``citysoc.store.search.search_query`` for the SQL."""
        sql, params = search_query(search, self._t_events)
        found = self._select("search_events", sql, params)
        return [
            FoundEvent(str(eid), utc(t), str(ag), str(system), str(host), bool(sure))
            for eid, t, ag, system, host, sure in found
        ]

    def events_received_since(self, since: datetime, limit: int, after: str | None = None) -> list[Event]:
        """Events with ``received_at >= since``, oldest first, ties by event id (as text).

        ``after`` (an event id as returned by the store) makes ``(since, after)`` a keyset cursor:
        only events strictly after it, so paging through many events with one ``received_at`` works.
        """
        # toString: order ties by the id's text, as MemoryStore does (UUID sort order differs).
        cond = "received_at >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')"
        params: dict[str, Any] = {"since": rows.micros(since), "limit": max(0, limit)}
        if after is not None:
            # The plain bound above stays for partition pruning.
            cond += (
                " AND (received_at, toString(event_id))"
                " > (fromUnixTimestamp64Micro({since:Int64}, 'UTC'), {after:String})"
            )
            params["after"] = after
        found = self._select(
            "events_received_since",
            f"SELECT {_cols(rows.EVENT_COLUMNS)} FROM {self._t_events} FINAL WHERE {cond}"
            " ORDER BY received_at, toString(event_id) LIMIT {limit:UInt64}",
            params,
            raw_col=True,
        )
        with self._errors("events_received_since"):
            return [rows.row_to_event(r) for r in found]

    def query_alerts(self, q: AlertQuery) -> list[Alert]:
        """Alerts matching ``q``: ``since <= detected_at < until``, cursor ``before`` exclusive."""
        where: list[str] = []
        params: dict[str, Any] = {"limit": max(0, q.limit)}
        for column in ("agency", "rule_id", "level"):
            value = getattr(q, column)
            if value is not None:
                where.append(f"{column} = {{{column}:String}}")
                params[column] = value
        if q.since is not None:
            where.append("detected_at >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')")
            params["since"] = rows.micros(q.since)
        if q.until is not None:
            where.append("detected_at < fromUnixTimestamp64Micro({until:Int64}, 'UTC')")
            params["until"] = rows.micros(q.until)
        if q.before is not None:
            where.append(
                "(detected_at, alert_id) < (fromUnixTimestamp64Micro({b_at:Int64}, 'UTC'), {b_id:String})"
            )
            params["b_at"], params["b_id"] = rows.micros(q.before[0]), q.before[1]
        sql = f"SELECT {_cols(rows.ALERT_COLUMNS)} FROM {self._t_alerts} FINAL"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY detected_at DESC, alert_id DESC LIMIT {limit:UInt64}"
        found = self._select("query_alerts", sql, params)
        with self._errors("query_alerts"):
            return [rows.row_to_alert(r) for r in found]

    def get_alert(self, alert_id: str) -> Alert | None:
        found = self._select(
            "get_alert",
            f"SELECT {_cols(rows.ALERT_COLUMNS)} FROM {self._t_alerts} FINAL WHERE alert_id = {{id:String}}",
            {"id": alert_id},
        )
        with self._errors("get_alert"):
            return rows.row_to_alert(found[0]) if found else None

    def get_alerts(self, alert_ids: Sequence[str]) -> list[Alert]:
        wanted = list(dict.fromkeys(alert_ids))
        by_id: dict[str, Alert] = {}
        for start in range(0, len(wanted), 1000):
            found = self._select(
                "get_alerts",
                f"SELECT {_cols(rows.ALERT_COLUMNS)} FROM {self._t_alerts} FINAL "
                "WHERE alert_id IN {ids:Array(String)}",
                {"ids": wanted[start : start + 1000]},
            )
            with self._errors("get_alerts"):
                for r in found:
                    a = rows.row_to_alert(r)
                    by_id[a.alert_id] = a
        return [by_id[a] for a in wanted if a in by_id]

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest ``received_at`` first, then dead id descending."""
        found = self._select(
            "dead_letters",
            f"SELECT {_cols(rows.DEAD_COLUMNS)} FROM {self._t_dead} FINAL "
            "ORDER BY received_at DESC, dead_id DESC LIMIT {limit:UInt64}",
            {"limit": max(0, limit)},
            raw_col=True,
        )
        with self._errors("dead_letters"):
            return [rows.row_to_dead(r) for r in found]

    def monitoring(self, since: datetime, until: datetime, agency: str | None = None) -> list[SourceActivity]:
        cond = "minute >= toStartOfMinute(fromUnixTimestamp64Micro({since:Int64}, 'UTC'))"
        cond += " AND minute < fromUnixTimestamp64Micro({until:Int64}, 'UTC')"
        params: dict[str, Any] = {"since": rows.micros(since), "until": rows.micros(until)}
        if agency is not None:
            cond += " AND agency = {agency:String}"
            params["agency"] = agency
        found = self._select(
            "monitoring",
            "SELECT agency, system, source, sum(events), sum(bytes), sum(errors), sum(alerts),"
            f" max(last_seen) FROM {self._t_mon} WHERE {cond}"
            " GROUP BY agency, system, source ORDER BY agency, system, source",
            params,
        )
        out = []
        for ag, system, source, events, size, errors, alerts, last in found:
            seen = utc(last) if last is not None and last.timestamp() > 0 else None
            out.append(
                SourceActivity(ag, system, source, int(events), int(size), int(errors), int(alerts), seen)
            )
        return out

    def get_watermark(self, name: str) -> datetime | None:
        found = self._select(
            "get_watermark",
            f"SELECT value FROM {self._t_wm} FINAL WHERE name = {{name:String}}",
            {"name": name},
        )
        return utc(found[0][0]) if found else None

    def load_state(self, name: str) -> StageState | None:
        # argMax, not FINAL: two writers may have saved the same position; either copy is the state.
        found = self._select(
            "load_state",
            f"SELECT max(position), argMax(data, (position, updated_at)) FROM {self._t_state} "
            "WHERE name = {name:String} HAVING count() > 0",
            {"name": name},
        )
        return StageState(name, int(found[0][0]), str(found[0][1])) if found else None

    def counts(self) -> Counts:
        found = self._select(
            "counts",
            f"SELECT (SELECT count() FROM {self._t_events}),"
            f" (SELECT uniqExact(event_id) FROM {self._t_events}),"
            f" (SELECT count() FROM {self._t_alerts}),"
            f" (SELECT uniqExact(alert_id) FROM {self._t_alerts}),"
            f" (SELECT uniqExact(dead_id) FROM {self._t_dead})",
            {},
        )
        r = found[0]
        return Counts(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]))

    # -- lifecycle ------------------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when ClickHouse answers; never raises."""
        try:
            return bool(self._conn().ping())
        except Exception:
            return False

    def close(self) -> None:
        """Release the client (for chDB: the engine handle, so the directory can be reopened). Idempotent."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass  # closing must not fail the caller's shutdown path


def _cols(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"`{name}`" for name, _ in columns)
