"""The ClickHouse query behind ``Store.search_events`` (retro-hunts), as a pure function.

Contract (on top of ``citysoc.store.base.EventSearch``):

* Rows of ``events`` in the window (``since <= event_time < until``) and agency passing ``where``,
  one per event id: a copy stored twice counts once, and is sure when any copy is. No ``FINAL``:
  grouping by id deduplicates more cheaply.
* Ordered by event time, then event id as text (as ``MemoryStore``), at most ``limit``.
* ``aliases`` are bound with ``WITH`` inside the row query; the search's parameters must not use the
  names this query binds itself (``since``, ``until``, ``agency``, ``limit``): ``StoreError``.
* ``short_circuit_function_evaluation = 'force_enable'``: an expensive alias (JSON parsing) runs only
  for the rows whose cheap test needs it.
"""

from __future__ import annotations

from typing import Any

from citysoc.store import rows
from citysoc.store.base import EventSearch, StoreError

_OWN_PARAMS = frozenset({"since", "until", "agency", "limit"})


def search_query(search: EventSearch, table: str) -> tuple[str, dict[str, Any]]:
    """``(sql, params)`` for ``search`` over ``table`` (a validated, quoted table name)."""
    clash = _OWN_PARAMS & set(search.params)
    if clash:
        raise StoreError(f"search parameters may not be named {sorted(clash)}")
    cond = (
        "event_time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')"
        " AND event_time < fromUnixTimestamp64Micro({until:Int64}, 'UTC')"
    )
    params: dict[str, Any] = {
        **search.params,
        "since": rows.micros(search.since),
        "until": rows.micros(search.until),
        "limit": max(0, search.limit),
    }
    if search.agency is not None:
        cond += " AND agency = {agency:String}"
        params["agency"] = search.agency
    with_ = ""
    if search.aliases:
        with_ = "WITH " + ", ".join(f"({expr}) AS {name}" for name, expr in search.aliases) + " "
    inner = (
        f"{with_}SELECT event_id, event_time, agency, system, source_host, toUInt8(({search.sure})) AS s"
        f" FROM {table} WHERE {cond} AND ({search.where})"
    )
    sql = (
        "SELECT event_id, min(event_time) AS t, any(agency), any(system), any(source_host), max(s)"
        f" FROM ({inner}) GROUP BY event_id ORDER BY t, toString(event_id) LIMIT {{limit:UInt64}}"
        " SETTINGS short_circuit_function_evaluation = 'force_enable'"
    )
    return sql, params
