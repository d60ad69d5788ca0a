"""Store contract for retro-hunts: ``get_events`` and ``search_events``, run against every store kind
(in-memory twin, chDB in-process, ClickHouse HTTP via ``store serve``; see ``conftest.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from citysoc.core.event import Event, stable_id
from citysoc.store.base import EventSearch, Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(n: int, **kw: Any) -> Event:
    values: dict[str, Any] = {
        "event_id": stable_id("search", n),
        "received_at": T0 + timedelta(hours=1),
        "event_time": T0 + timedelta(minutes=n),
        "agency": "police" if n % 3 else "health",
        "system": "cad",
        "source_host": f"h{n}",
        "source_ip": "10.0.0.1",
        "transport": "tcp",
        "format": "json",
        "raw": f"raw {n}".encode(),
        "fields": {"n": n, "Name": f"user{n}"},
    }
    values.update(kw)
    return Event(**values)


EVEN_SQL = "JSONExtractInt(fields, 'n') % 2 = 0"


def even(e: Event) -> bool:
    return int(e.fields["n"]) % 2 == 0


def test_get_events_in_the_order_asked(store: Store) -> None:
    events = [event(n) for n in range(5)]
    store.insert_events(events)
    store.insert_events([events[1]])  # a redelivery
    ids = [events[3].event_id, "not-a-uuid", events[1].event_id, stable_id("missing"), events[3].event_id]
    got = store.get_events(ids)
    assert [e.event_id for e in got] == [events[3].event_id, events[1].event_id]
    assert got[0] == store.get_event(events[3].event_id)
    assert got[0].fields == {"n": 3, "Name": "user3"}
    assert store.get_events([]) == []


def test_search_selects_by_condition_window_and_agency(store: Store) -> None:
    events = [event(n) for n in range(12)]
    store.insert_events(events[::-1])
    store.insert_events(events[:4])  # stored twice: still found once
    s = EventSearch(
        test=even, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=10), where=EVEN_SQL
    )
    found = store.search_events(s)
    assert [f.event_id for f in found] == [events[n].event_id for n in (2, 4, 6, 8)]  # event time order
    assert all(f.sure for f in found)
    first = found[0]
    assert (first.event_time, first.agency, first.system, first.host) == (
        events[2].event_time,
        "police",
        "cad",
        "h2",
    )

    only_health = store.search_events(
        EventSearch(test=even, since=T0, until=T0 + timedelta(hours=1), agency="health", where=EVEN_SQL)
    )
    assert [f.event_id for f in only_health] == [events[n].event_id for n in (0, 6)]
    limited = store.search_events(
        EventSearch(test=even, since=T0, until=T0 + timedelta(hours=1), where=EVEN_SQL, limit=2)
    )
    assert [f.event_id for f in limited] == [events[0].event_id, events[2].event_id]


def test_search_with_aliases_and_parameters(store: Store) -> None:
    events = [event(n) for n in range(6)]
    store.insert_events(events)
    s = EventSearch(
        test=lambda e: str(e.fields["Name"]).upper() in ("USER1", "USER4"),
        since=T0,
        until=T0 + timedelta(hours=1),
        aliases=(("name_", "upper(JSONExtractString(fields, 'Name'))"),),
        where="has({h_0:Array(String)}, name_)",
        params={"h_0": ["USER1", "USER4"]},
    )
    assert [f.event_id for f in store.search_events(s)] == [events[1].event_id, events[4].event_id]


def test_rows_flagged_sure_pass_the_test(store: Store) -> None:
    """ClickHouse reports every row of ``where`` with ``sure`` from SQL; the twin only passing rows.
    Either way: sure rows pass the test, and every passing event is reported."""
    events = [event(n) for n in range(8)]
    store.insert_events(events)
    s = EventSearch(
        test=even,
        since=T0,
        until=T0 + timedelta(hours=1),
        where="1",
        sure=f"({EVEN_SQL}) AND JSONExtractInt(fields, 'n') > 2",
    )
    found = store.search_events(s)
    by_id = {e.event_id: e for e in events}
    assert all(even(by_id[f.event_id]) for f in found if f.sure)
    assert {e.event_id for e in events if even(e)} <= {f.event_id for f in found}
    assert {f.event_id for f in found if f.sure} >= {events[n].event_id for n in (4, 6)}
