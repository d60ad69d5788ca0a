"""The Store contract (``citysoc.store.base``), one suite run against every implementation:
``MemoryStore``, ``ClickHouseStore`` on chDB in-process, and ``ClickHouseStore`` over HTTP against a
real ``store serve`` subprocess (see ``conftest.py``)."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from citysoc.core.alert import Alert, AlertKind, Level, alert_id_for_event
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.store.base import AlertQuery, Counts, StageState, Store, StoreError

T0 = datetime(2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC)

# Not UTF-8, a NUL byte, CR/LF/tab, a truncated multi-byte sequence and valid multi-byte text.
AWKWARD_RAW = (
    b"<13>1 2026-11-01T08:00:00Z host app - - \x00NUL \xff\xfe\xc3\x28 \r\n\ttab \xe2\x82\xac end\xe2\x82"
)


def event(n: int, received_at: datetime = T0, **kw: Any) -> Event:
    values: dict[str, Any] = {
        "event_id": stable_id("test", n),
        "received_at": received_at,
        "event_time": received_at - timedelta(seconds=5),
        "agency": "police",
        "system": "cad",
        "source_host": f"host{n % 3}",
        "source_ip": "10.1.2.3",
        "transport": "udp",
        "format": "rfc5424",
        "raw": f"message {n}".encode(),
        "fields": {"n": n},
    }
    values.update(kw)
    return Event(**values)


def alert(
    n: int,
    detected_at: datetime = T0,
    *,
    agency: str = "police",
    rule_id: str = "rule-a",
    level: Level = "high",
    kind: AlertKind = "stream",
    **kw: Any,
) -> Alert:
    values: dict[str, Any] = {
        "alert_id": alert_id_for_event(rule_id, stable_id("ev", n)),
        "rule_id": rule_id,
        "title": f"Alert {n}",
        "level": level,
        "rule_status": "stable",
        "tags": ("attack.execution", "attack.t1059"),
        "agency": agency,
        "system": "cad",
        "host": f"host{n}",
        "event_ids": (stable_id("ev", n),),
        "matched_fields": {"Image": "C:\\Windows\\cmd.exe", "n": str(n)},
        "time": detected_at - timedelta(seconds=1),
        "detected_at": detected_at,
        "kind": kind,
    }
    values.update(kw)
    return Alert(**values)


def dead(n: int, received_at: datetime = T0, raw: bytes = b"\x00\xff bad") -> DeadLetter:
    return DeadLetter.make(
        collector="col-1",
        connection="tcp:10.0.0.9:5514",
        sequence=n,
        received_at=received_at,
        agency="water",
        source_ip="10.0.0.9",
        transport="tcp",
        reason="bad_syslog",
        detail=f"cannot parse line {n}: 'quoted' \\ backslash",
        raw=raw,
    )


def test_migrate_twice_is_fine(store: Store) -> None:
    store.migrate()
    store.migrate()
    assert store.counts() == Counts(0, 0, 0, 0, 0)


def test_ping(store: Store) -> None:
    assert store.ping() is True


def test_event_round_trip_is_exact(store: Store) -> None:
    e = event(
        1,
        raw=AWKWARD_RAW,
        fields={
            "EventID": 4624,
            "CommandLine": "cmd.exe /c \"echo 'x'\" \\\\server\\share",
            "list": ["a", 1, 2.5, True, None],
            "flag": False,
            "none": None,
            "ratio": 0.1,
            "text": "Tiếng Việt ✓ \u0000 nul",
            "big": 2**62,
        },
        logsource=Logsource(product="windows", service="security", category=None),
        collector="col-1",
        attributed=False,
        transport="tls",
        format="evtx_json",
    )
    plain = event(2, raw=b"")
    store.insert_events([e, plain])
    got = store.get_event(e.event_id)
    assert got == e
    assert got is not None and got.raw == AWKWARD_RAW and dict(got.fields) == dict(e.fields)
    assert store.get_event(plain.event_id) == plain


def test_event_id_is_canonical_and_validated(store: Store) -> None:
    e = event(1)
    store.insert_events([e])
    assert store.get_event(e.event_id.upper()) == e
    assert store.get_event(str(uuid.uuid4())) is None
    assert store.get_event("not-a-uuid") is None
    with pytest.raises(StoreError):
        store.insert_events([event(2, event_id="not-a-uuid")])
    assert store.counts().distinct_events == 1


def test_duplicate_inserts_dedup(store: Store) -> None:
    e = event(1, raw=AWKWARD_RAW)
    store.insert_events([e, e])
    store.insert_events([e])
    c = store.counts()
    assert c.distinct_events == 1
    assert c.events >= 1
    assert store.get_event(e.event_id) == e
    assert store.events_received_since(T0 - timedelta(days=1), 10) == [e]


def test_events_received_since_order_and_limit(store: Store) -> None:
    times = [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=2),
    ]
    evs = [event(i, received_at=t) for i, t in enumerate(times)]
    # Another day (another partition in ClickHouse).
    evs.append(event(99, received_at=T0 + timedelta(days=1, microseconds=1)))
    shuffled = evs[:]
    random.Random(7).shuffle(shuffled)
    store.insert_events(shuffled[:3])
    store.insert_events(shuffled[3:])

    expected = sorted(evs[1:], key=lambda e: (e.received_at, e.event_id))
    assert store.events_received_since(T0 + timedelta(seconds=1), 100) == expected
    assert store.events_received_since(T0 + timedelta(seconds=1), 2) == expected[:2]
    assert store.events_received_since(T0 + timedelta(days=2), 100) == []
    assert store.events_received_since(T0, 0) == []
    # A naive datetime is UTC; received_at >= since is inclusive to the microsecond.
    naive = (T0 + timedelta(days=1, microseconds=1)).replace(tzinfo=None)
    assert store.events_received_since(naive, 10) == [evs[-1]]


def test_events_received_since_keyset_cursor_pages_through_ties(store: Store) -> None:
    # Ten events share one received_at: paging by time alone would repeat the first page forever.
    evs = [event(i, received_at=T0) for i in range(10)] + [
        event(i, received_at=T0 + timedelta(seconds=1)) for i in range(10, 13)
    ]
    store.insert_events(evs)
    expected = sorted(evs, key=lambda e: (e.received_at, e.event_id))
    seen: list[Event] = []
    since, after = T0, None
    for _ in range(20):
        page = store.events_received_since(since, 4, after)
        if not page:
            break
        seen += page
        since, after = page[-1].received_at, page[-1].event_id
    assert seen == expected


def test_alert_round_trip(store: Store) -> None:
    a = alert(
        1,
        kind="correlation",
        tags=(),
        event_ids=(stable_id("x", 1), stable_id("x", 2)),
        matched_fields={},
        extra={"window": "5m", "count": 7, "values": ["a", None]},
    )
    b = alert(2, title="Quotes ' \" \\ and\nnewline", host="", rule_status="experimental")
    store.insert_alerts([a, b])
    assert store.get_alert(a.alert_id) == a
    assert store.get_alert(b.alert_id) == b
    assert store.get_alert("no-such-alert") is None


def test_duplicate_alerts_dedup_last_wins(store: Store) -> None:
    a = alert(1)
    store.insert_alerts([a, a])
    store.insert_alerts([a])
    renamed = alert(1, title="Alert 1 (re-detected)", detected_at=T0 + timedelta(minutes=1))
    store.insert_alerts([renamed])
    c = store.counts()
    assert c.distinct_alerts == 1 and c.alerts >= 1
    assert store.get_alert(a.alert_id) == renamed
    assert store.query_alerts(AlertQuery()) == [renamed]


def test_get_alerts_in_the_order_given_without_missing_or_repeats(store: Store) -> None:
    alerts = [alert(n, rule_id=("rule-a", "rule-b")[n % 2]) for n in range(1, 2505)]
    store.insert_alerts(alerts)
    renamed = alert(7, rule_id="rule-b", title="newer copy")
    store.insert_alerts([renamed])
    wanted = [alerts[2500].alert_id, "no-such-alert", alerts[6].alert_id, alerts[2500].alert_id]
    wanted += [a.alert_id for a in alerts[:2400]]  # more than one query's worth of ids
    got = store.get_alerts(wanted)
    assert [a.alert_id for a in got] == [alerts[2500].alert_id, alerts[6].alert_id] + [
        a.alert_id for a in alerts[:2400] if a.alert_id != alerts[6].alert_id
    ]
    assert got[1] == renamed  # the deduplicated (latest) copy
    assert store.get_alerts([]) == []


def _corpus() -> list[Alert]:
    out: list[Alert] = []
    for n in range(24):
        out.append(
            alert(
                n,
                # Groups of three share a detection time, so ties are ordered by alert id.
                T0 + timedelta(minutes=n // 3),
                agency=("police", "water", "transit")[n % 3],
                rule_id=("rule-a", "rule-b")[n % 2],
                level=("low", "medium", "high", "critical")[n % 4],
            )
        )
    return out


def _newest_first(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.detected_at, a.alert_id), reverse=True)


def test_query_alerts_filters_and_order(store: Store) -> None:
    corpus = _corpus()
    store.insert_alerts(corpus[:10])
    store.insert_alerts(corpus[10:])

    def check(q: AlertQuery, keep: Callable[[Alert], bool]) -> None:
        expected = _newest_first([a for a in corpus if keep(a)])[: q.limit]
        assert store.query_alerts(q) == expected, q

    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
    check(AlertQuery(), lambda a: True)
    check(AlertQuery(limit=5), lambda a: True)
    check(AlertQuery(agency="water"), lambda a: a.agency == "water")
    check(AlertQuery(rule_id="rule-b"), lambda a: a.rule_id == "rule-b")
    check(AlertQuery(level="critical"), lambda a: a.level == "critical")
    check(AlertQuery(since=since), lambda a: a.detected_at >= since)
    check(AlertQuery(until=until), lambda a: a.detected_at < until)
    check(AlertQuery(since=since, until=until), lambda a: since <= a.detected_at < until)
    check(
        AlertQuery(agency="police", rule_id="rule-a", since=since),
        lambda a: a.agency == "police" and a.rule_id == "rule-a" and a.detected_at >= since,
    )
    assert store.query_alerts(AlertQuery(agency="nobody")) == []
    assert store.query_alerts(AlertQuery(limit=0)) == []


@pytest.mark.parametrize("agency", [None, "police"])
def test_alert_cursor_pagination_has_no_gaps_or_duplicates(store: Store, agency: str | None) -> None:
    corpus = _corpus()
    store.insert_alerts(corpus)
    expected = _newest_first([a for a in corpus if agency is None or a.agency == agency])
    seen: list[Alert] = []
    before: tuple[datetime, str] | None = None
    for _ in range(50):
        page = store.query_alerts(AlertQuery(agency=agency, limit=4, before=before))
        if not page:
            break
        seen += page
        before = (page[-1].detected_at, page[-1].alert_id)
    assert seen == expected
    assert len({a.alert_id for a in seen}) == len(seen)


def test_dead_letters_round_trip_dedup_and_order(store: Store) -> None:
    letters = [dead(n, T0 + timedelta(seconds=n), raw=AWKWARD_RAW + bytes([n])) for n in range(5)]
    store.insert_dead_letters(letters)
    store.insert_dead_letters(letters[:2])
    newest_first = sorted(letters, key=lambda d: (d.received_at, d.dead_id), reverse=True)
    assert store.dead_letters() == newest_first
    assert store.dead_letters(limit=2) == newest_first[:2]
    assert store.dead_letters()[0].raw == AWKWARD_RAW + bytes([4])
    assert store.counts().dead_letters == 5


def test_watermark_newest_write_wins(store: Store) -> None:
    assert store.get_watermark("hunt") is None
    store.set_watermark("hunt", T0 + timedelta(hours=1))
    store.set_watermark("other", T0)
    assert store.get_watermark("hunt") == T0 + timedelta(hours=1)
    # The newest write wins even when it moves the value back (a deliberate rewind).
    store.set_watermark("hunt", T0 + timedelta(microseconds=1))
    assert store.get_watermark("hunt") == T0 + timedelta(microseconds=1)
    assert store.get_watermark("other") == T0
    store.set_watermark("naive", datetime(2026, 1, 2, 3, 4, 5, 6))
    assert store.get_watermark("naive") == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_stage_state_highest_position_wins(store: Store) -> None:
    assert store.load_state("correlation/g/t/0") is None
    big = '{"v": 1, "text": "' + "é\\u0000" * 5000 + '"}'  # non-ASCII, escapes, larger than a block
    store.save_states([StageState("correlation/g/t/0", 10, big), StageState("correlation/g/t/1", 3, "b")])
    assert store.load_state("correlation/g/t/0") == StageState("correlation/g/t/0", 10, big)
    # A stale writer (lost its partition in a rebalance) saves an older position later: ignored.
    store.save_states([StageState("correlation/g/t/0", 7, "stale")])
    assert store.load_state("correlation/g/t/0") == StageState("correlation/g/t/0", 10, big)
    store.save_states([StageState("correlation/g/t/0", 11, "newer")])
    assert store.load_state("correlation/g/t/0") == StageState("correlation/g/t/0", 11, "newer")
    # Same position written again (a redelivered batch): the last write is the state.
    store.save_states([StageState("correlation/g/t/0", 11, "again")])
    assert store.load_state("correlation/g/t/0") == StageState("correlation/g/t/0", 11, "again")
    assert store.load_state("correlation/g/t/1") == StageState("correlation/g/t/1", 3, "b")
    assert store.load_state("correlation/g/t/2") is None


def test_counts_raw_and_distinct(store: Store) -> None:
    evs = [event(i) for i in range(3)]
    store.insert_events(evs)
    store.insert_events(evs[:1])
    store.insert_alerts([alert(1), alert(2)])
    store.insert_dead_letters([dead(1), dead(1)])
    c = store.counts()
    assert c.distinct_events == 3 and 3 <= c.events <= 4
    assert c.distinct_alerts == 2 and c.alerts == 2
    assert c.dead_letters == 1


def test_concurrent_use_from_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for batch in range(3):
                evs = [event(t * 1000 + batch * 100 + i) for i in range(20)]
                store.insert_events(evs)
                assert store.get_event(evs[0].event_id) == evs[0]
                store.set_watermark(f"w{t}", T0 + timedelta(seconds=batch))
        except BaseException as ex:
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert store.counts().distinct_events == 6 * 3 * 20
    assert store.get_watermark("w5") == T0 + timedelta(seconds=2)


def test_unmigrated_store_raises_store_error(store_factory: Callable[[], Store]) -> None:
    s = store_factory()
    assert s.ping()
    with pytest.raises(StoreError):
        s.counts()
    with pytest.raises(StoreError):
        s.insert_events([event(1)])


def test_closed_store(store: Store) -> None:
    store.close()
    store.close()
    assert store.ping() is False
    with pytest.raises(StoreError):
        store.get_event(stable_id("test", 1))


def test_monitoring_rollups_per_source_and_minute(store: Store) -> None:
    from citysoc.store.base import SourceActivity

    t = T0.replace(second=10, microsecond=0)
    store.insert_events(
        [event(1, t), event(2, t + timedelta(seconds=20)), event(3, t + timedelta(minutes=2))]
    )
    store.insert_events([event(4, t, source_ip="10.9.9.9", agency="water", system="scada")])
    store.insert_dead_letters([dead(1, t + timedelta(seconds=5)), dead(2, t + timedelta(seconds=6))])
    store.insert_alerts([alert(1, t + timedelta(seconds=30)), alert(2, t + timedelta(minutes=5))])
    start = t.replace(second=0)
    got = store.monitoring(start, start + timedelta(minutes=3))
    assert got == [
        SourceActivity("police", "cad", "", 0, 0, 0, 1, None),
        SourceActivity("police", "cad", "10.1.2.3", 3, len(b"message 1") * 3, 0, 0, t + timedelta(minutes=2)),
        SourceActivity("water", "", "10.0.0.9", 0, 2 * len(b"\x00\xff bad"), 2, 0, t + timedelta(seconds=6)),
        SourceActivity("water", "scada", "10.9.9.9", 1, len(b"message 4"), 0, 0, t),
    ]
    # The range is by minute: [start+1min, start+3min) sees only event 3; the agency filter applies.
    later = store.monitoring(start + timedelta(minutes=1), start + timedelta(minutes=3), agency="police")
    assert [(a.source, a.events) for a in later] == [("10.1.2.3", 1)]
    assert store.monitoring(start, start + timedelta(minutes=10), agency="nobody") == []


def test_retention_by_security_level(store: Store) -> None:
    # Defaults: level 1 keeps 180 days, level 5 ten years (both configurable).
    old = datetime(2024, 1, 1, tzinfo=UTC)
    fresh = datetime.now(UTC) - timedelta(days=1)
    store.insert_events(
        [event(1, old, security_level=1), event(2, old, security_level=5), event(3, fresh, security_level=1)]
    )
    # ClickHouse may already drop an expired row while writing it; after apply_retention() it is gone.
    store.apply_retention()
    assert store.get_event(stable_id("test", 1)) is None  # level 1, older than 180 days
    kept = store.get_event(stable_id("test", 2))
    assert kept is not None and kept.security_level == 5
    assert store.get_event(stable_id("test", 3)) is not None
