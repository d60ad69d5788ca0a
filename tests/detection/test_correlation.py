"""Correlation rules: loading, the four types' window semantics, bounds, lateness, restart, partitioning."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citysoc.core.alert import Alert, alert_id_for_window
from citysoc.core.event import Event, Logsource
from citysoc.detection.correlation import CorrelationEngine, CorrelationInput, CorrelationLimits
from citysoc.detection.engine import Engine

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
US = timedelta(microseconds=1)

BASE = """
title: Failed login
id: 6d7c1c1e-0000-4000-8000-000000000001
name: failed_login
logsource: {product: linux, service: sshd}
detection: {sel: {outcome: failure}, condition: sel}
---
title: Successful login
id: 6d7c1c1e-0000-4000-8000-000000000002
name: success_login
logsource: {product: linux, service: sshd}
detection: {sel: {outcome: success}, condition: sel}
---
title: Firewall block
id: 6d7c1c1e-0000-4000-8000-000000000003
name: fw_block
logsource: {product: firewall}
detection: {sel: {action: block}, condition: sel}
"""


def corr(body: str, *, rid: str = "0c0c0c0c-0000-4000-8000-00000000000c", extra: str = "") -> str:
    return f"---\ntitle: Correlation\nid: {rid}\nlevel: high\nstatus: test\ntags: [attack.t1110]\n{extra}correlation:\n{body}"


def engines(yaml: str, limits: CorrelationLimits | None = None) -> tuple[Engine, CorrelationEngine]:
    engine = Engine.from_yaml(BASE + yaml)
    assert engine.errors == []
    return engine, CorrelationEngine.from_engine(engine, limits or CorrelationLimits())


_counter = iter(range(1_000_000))


def ev(t: float | datetime, *, product: str = "linux", agency: str = "a1", **fields: Any) -> Event:
    """An event ``t`` seconds after T0 (or at ``t``) with a unique id."""
    when = t if isinstance(t, datetime) else T0 + timedelta(seconds=t)
    return Event(
        event_id=f"e{next(_counter):06d}",
        received_at=when,
        event_time=when,
        agency=agency,
        system="s",
        source_host="h",
        source_ip="192.0.2.1",
        transport="replay",
        format="json",
        raw=b"",
        fields=fields,
        logsource=Logsource(product, "sshd" if product == "linux" else None),
    )


def fail(t: float | datetime, ip: str = "203.0.113.7", **kw: Any) -> Event:
    return ev(t, outcome="failure", src_ip=ip, **kw)


def ok(t: float | datetime, ip: str = "203.0.113.7", **kw: Any) -> Event:
    return ev(t, outcome="success", src_ip=ip, **kw)


def run(engine: Engine, ce: CorrelationEngine, events: Iterable[Event]) -> list[tuple[int, Alert]]:
    """(index of the event whose observe returned it, alert) for every alert."""
    return [(i, a) for i, e in enumerate(events) for a in ce.observe(e, engine.match(e))]


def flush(ce: CorrelationEngine) -> list[Alert]:
    return ce.advance(T0 + timedelta(days=365))


EVENT_COUNT = corr(
    "  type: event_count\n  rules: [failed_login]\n  group-by: [src_ip]\n  timespan: 60s\n  condition: {gte: 3}\n"
)


# ---------------------------------------------------------------------------------------- loading


def test_correlation_rules_load_with_their_metadata() -> None:
    engine, ce = engines(EVENT_COUNT)
    [info] = engine.correlations
    assert (info.type, info.group_by, info.timespan_s, info.op, info.count) == (
        "event_count",
        ("src_ip",),
        60,
        "gte",
        3,
    )
    assert info.referenced_rule_ids == ("6d7c1c1e-0000-4000-8000-000000000001",)
    assert (info.title, info.level, info.status, info.tags) == (
        "Correlation",
        "high",
        "test",
        ("attack.t1110",),
    )
    assert [r.title for r in engine.rules] == ["Failed login", "Successful login", "Firewall block"]
    assert ce.suppressed_base_rule_ids() == {"6d7c1c1e-0000-4000-8000-000000000001"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "  type: event_count\n  rules: [nope]\n  timespan: 1m\n  condition: {gte: 2}\n",
            "unknown rule 'nope'",
        ),
        ("  type: event_count\n  rules: [broken]\n  timespan: 1m\n  condition: {gte: 2}\n", "failed to load"),
        (
            "  type: value_sum\n  rules: [failed_login]\n  timespan: 1m\n  condition: {gte: 2, field: x}\n",
            "value_sum",
        ),
        (
            "  type: temporal\n  rules: [failed_login, success_login]\n  timespan: 1m\n  condition: failed_login and success_login\n",
            "extended",
        ),
        ("  type: event_count\n  rules: [other_corr]\n  timespan: 1m\n  condition: {gte: 2}\n", "chaining"),
    ],
)
def test_unsupported_or_unresolvable_correlations_are_load_errors(body: str, reason: str) -> None:
    broken = "---\ntitle: Broken\nname: broken\nlogsource: {product: linux}\ndetection: {sel: {x|expand: '%a%'}, condition: sel}\n"
    other = corr(
        "  type: event_count\n  rules: [failed_login]\n  timespan: 1m\n  condition: {gte: 2}\n",
        rid="0c0c0c0c-0000-4000-8000-0000000000ff",
        extra="name: other_corr\n",
    )
    engine = Engine.from_yaml(BASE + broken + other + corr(body))
    errors = [e for e in engine.errors if e.rule_id == "0c0c0c0c-0000-4000-8000-00000000000c"]
    assert len(errors) == 1 and reason in errors[0].reason, engine.errors
    assert [c.rule_id for c in engine.correlations] == ["0c0c0c0c-0000-4000-8000-0000000000ff"]


def test_generate_true_keeps_base_alerts() -> None:
    _, ce = engines(EVENT_COUNT.replace("  condition:", "  generate: true\n  condition:"))
    assert ce.suppressed_base_rule_ids() == frozenset()


def test_repo_bruteforce_correlation_fires_on_the_tenth_failure() -> None:
    engine = Engine.load([REPO / "detections"])
    assert engine.errors == []
    [info] = engine.correlations
    assert info.referenced_rule_ids == ("506331c0-4397-4d59-82c3-30ecea500097",) and info.generate
    ce = CorrelationEngine.from_engine(engine)
    msg = "Failed password for invalid user admin from 203.0.113.7 port 4711 ssh2"
    events = [
        ev(20 * i, app_name="sshd", message=msg, outcome="failure", src_ip="203.0.113.7", agency="hcm")
        for i in range(12)
    ]
    alerts = run(engine, ce, events)
    assert [(i, a.level, a.kind, a.matched_fields) for i, a in alerts] == [
        (9, "high", "correlation", {"agency": "hcm", "src_ip": "203.0.113.7"})
    ]


# ------------------------------------------------------------------------------------ event_count


def test_event_count_window_edges_are_inclusive_to_the_microsecond() -> None:
    engine, ce = engines(EVENT_COUNT)
    [(i, a)] = run(engine, ce, [fail(0), fail(30), fail(60)])
    assert i == 2 and a.time == T0 + timedelta(seconds=60)
    assert a.alert_id == alert_id_for_window(a.rule_id, [("src_ip", "203.0.113.7")], T0)
    assert a.extra["count"] == 3 and a.extra["window_end"] == (T0 + timedelta(seconds=60)).isoformat()

    engine, ce = engines(EVENT_COUNT)
    late = T0 + timedelta(seconds=60) + US
    assert run(engine, ce, [fail(0), fail(30), fail(late)]) == []
    # The window slides: without the first event, the next one completes [30 s, 90 s].
    [(_, a)] = run(engine, ce, [fail(90)])
    assert a.alert_id == alert_id_for_window(
        a.rule_id, [("src_ip", "203.0.113.7")], T0 + timedelta(seconds=30)
    )


def test_groups_are_separate_and_alerts_carry_the_group() -> None:
    engine, ce = engines(EVENT_COUNT)
    events = [fail(0, "A"), fail(1, "B"), fail(2, "A"), fail(3, "B"), ok(4, "A"), fail(5, "A")]
    [(i, a)] = run(engine, ce, events)
    assert i == 5 and a.matched_fields == {"src_ip": "A"}
    assert a.event_ids == (events[0].event_id, events[2].event_id, events[5].event_id)
    assert (a.agency, a.host, a.title, a.rule_status) == ("a1", "h", "Correlation", "test")


def test_missing_group_field_feeds_no_group() -> None:
    engine, ce = engines(EVENT_COUNT)
    assert run(engine, ce, [ev(i, outcome="failure") for i in range(5)]) == []
    assert ce.stats.missing_group_field == 5 and ce.group_count() == 0


def test_gt_needs_more_than_the_count() -> None:
    engine, ce = engines(EVENT_COUNT.replace("gte: 3", "gt: 3"))
    assert [i for i, _ in run(engine, ce, [fail(i) for i in range(6)])] == [3]


def test_one_alert_per_window_and_a_new_window_after_it() -> None:
    engine, ce = engines(EVENT_COUNT)
    first = [fail(i * 5) for i in range(10)]  # 0..45 s: fires at the third, the rest are absorbed
    second = [fail(61 + i) for i in range(3)]  # after the fired window [0, 60]
    alerts = run(engine, ce, first + second)
    assert [i for i, _ in alerts] == [2, 12]
    assert ce.stats.absorbed == 7
    starts = [a.extra["window_start"] for _, a in alerts]
    assert starts == [T0.isoformat(), (T0 + timedelta(seconds=61)).isoformat()]
    assert alerts[0][1].alert_id != alerts[1][1].alert_id


def test_no_group_by_is_one_global_group() -> None:
    engine, ce = engines(EVENT_COUNT.replace("  group-by: [src_ip]\n", ""))
    [(i, a)] = run(engine, ce, [fail(0, "A"), fail(1, "B"), fail(2, "C")])
    assert i == 2 and a.matched_fields == {}


def test_eq_and_lt_are_decided_when_the_window_closes() -> None:
    lateness = CorrelationLimits(allowed_lateness=timedelta(seconds=10))
    engine, ce = engines(EVENT_COUNT.replace("gte: 3", "eq: 2"), lateness)
    assert run(engine, ce, [fail(0, "A"), fail(10, "A"), fail(0, "B"), fail(1, "B"), fail(2, "B")]) == []
    # Window [0, 60] closes once the watermark (max seen - 10 s) passes 60 s.
    assert ce.advance(T0 + timedelta(seconds=70)) == []
    [a] = ce.advance(T0 + timedelta(seconds=70) + US)
    assert (
        a.matched_fields == {"src_ip": "A"} and a.time == T0 + timedelta(seconds=10) and a.extra["count"] == 2
    )

    engine, ce = engines(EVENT_COUNT.replace("gte: 3", "lt: 3"), lateness)
    events = [fail(0, "A"), fail(5, "A"), fail(0, "B"), fail(1, "B"), fail(2, "B"), fail(100, "C")]
    alerts = run(engine, ce, events)  # the event at 100 s moves the watermark past both windows
    assert [(i, a.matched_fields["src_ip"]) for i, a in alerts] == [(5, "A")]
    assert [a.matched_fields["src_ip"] for a in flush(ce)] == ["C"]


# ------------------------------------------------------------------------------------ value_count


VALUE_COUNT = corr(
    "  type: value_count\n  rules: [failed_login]\n  group-by: [SourceIp]\n  timespan: 10m\n"
    "  condition: {gte: 3, field: TargetUserName}\n"
)


def test_value_count_counts_distinct_values_through_the_field_mapping() -> None:
    # SourceIp and TargetUserName are mapped by the syslog pipeline onto src_ip and user.
    engine, ce = engines(VALUE_COUNT)
    events = [
        fail(0, user="root"),
        fail(1, user="root"),
        fail(2, user="admin"),
        fail(3),
        fail(4, user="root"),
    ]
    assert run(engine, ce, events) == []
    [(_, a)] = run(engine, ce, [fail(5, user="oracle")])
    assert a.matched_fields == {"SourceIp": "203.0.113.7"} and a.extra["count"] == 3


# --------------------------------------------------------------------------------- temporal, aliases


TEMPORAL = corr(
    "  type: temporal\n  rules: [failed_login, fw_block]\n  group-by: [ip]\n  timespan: 5m\n"
    "  aliases:\n    ip:\n      failed_login: src_ip\n      fw_block: dst_ip\n"
)


def test_temporal_uses_aliases_and_ignores_order() -> None:
    engine, ce = engines(TEMPORAL)
    assert engine.correlations[0].count == 2  # default condition: all referenced rules
    events = [
        ev(0, product="firewall", action="block", dst_ip="198.51.100.1"),
        fail(10, "203.0.113.7"),
        fail(20, "198.51.100.1"),
    ]
    [(i, a)] = run(engine, ce, events)
    assert i == 2 and a.matched_fields == {"ip": "198.51.100.1"}
    assert a.event_ids == (events[0].event_id, events[2].event_id)


def test_temporal_needs_all_rules_within_the_timespan() -> None:
    engine, ce = engines(TEMPORAL)
    events = [fail(0, "X"), fail(100, "X"), ev(400.000001, product="firewall", action="block", dst_ip="X")]
    assert run(engine, ce, events) == []  # the block is 300.000001 s after 100 s
    [(_, a)] = run(engine, ce, [fail(401, "X")])
    assert a.extra["window_start"] == (T0 + timedelta(seconds=400.000001)).isoformat()


ORDERED = corr(
    "  type: temporal_ordered\n  rules: [failed_login, success_login]\n  group-by: [src_ip]\n  timespan: 5m\n"
)


def test_temporal_ordered_requires_the_listed_order() -> None:
    engine, ce = engines(ORDERED)
    events = [ok(0, "A"), fail(10, "A"), ok(20, "A")]
    assert run(engine, ce, events[:2]) == []
    [(_, a)] = run(engine, ce, events[2:])
    assert a.event_ids == tuple(e.event_id for e in events) and a.time == T0 + timedelta(seconds=20)
    # Same second: arrival order decides (syslog times are often whole seconds).
    assert run(engine, ce, [ok(400, "B"), fail(400, "B")]) == []
    assert len(run(engine, ce, [ok(400, "B")])) == 1


# --------------------------------------------------------------------------------- lateness, bounds


def test_out_of_order_events_within_lateness_are_placed_by_event_time() -> None:
    limits = CorrelationLimits(allowed_lateness=timedelta(seconds=30))
    engine, ce = engines(EVENT_COUNT, limits)
    [(i, a)] = run(engine, ce, [fail(20), fail(70), fail(45)])  # 45 s arrives last, 25 s late
    assert i == 2 and a.extra["window_start"] == (T0 + timedelta(seconds=20)).isoformat()
    assert a.time == T0 + timedelta(seconds=45)  # the completing event

    engine, ce = engines(EVENT_COUNT, limits)
    assert run(engine, ce, [fail(100), fail(101), fail(69.999)]) == []  # older than the watermark (70 s)
    assert ce.stats.late_events == 1


def test_group_cap_evicts_the_oldest_window_and_counts() -> None:
    engine, ce = engines(EVENT_COUNT, CorrelationLimits(max_groups_per_rule=2))
    run(engine, ce, [fail(0, "A"), fail(1, "A"), fail(2, "B"), fail(3, "B"), fail(4, "C")])
    assert ce.group_count() == 2 and ce.stats.evicted_groups == 1
    assert ce.stats.evicted_by_rule == {"0c0c0c0c-0000-4000-8000-00000000000c": 1}
    assert run(engine, ce, [fail(5, "B")])  # B kept its two events
    assert run(engine, ce, [fail(6, "A")]) == []  # A was evicted: counting starts again


def test_state_expires_behind_the_watermark() -> None:
    engine, ce = engines(EVENT_COUNT, CorrelationLimits(allowed_lateness=timedelta(0)))
    run(engine, ce, [fail(i, f"10.0.0.{i}") for i in range(50)])
    assert ce.group_count() == 50
    ce.advance(T0 + timedelta(seconds=200))
    assert ce.group_count() == 0


def test_entry_cap_drops_the_oldest_events() -> None:
    engine, ce = engines(VALUE_COUNT, CorrelationLimits(max_entries_per_group=4))
    run(engine, ce, [fail(i, user="root") for i in range(6)])
    assert ce.stats.dropped_entries == 2
    assert len(run(engine, ce, [fail(10, user="a"), fail(11, user="b")])) == 1


def test_redelivered_events_are_not_counted_twice() -> None:
    engine, ce = engines(EVENT_COUNT)
    e1, e2 = fail(0), fail(1)
    assert run(engine, ce, [e1, e2, e1, e2]) == [] and ce.stats.duplicates == 2


# ------------------------------------------------------------------------ determinism and restart


def stream(seed: int, n: int = 600) -> list[Event]:
    """Failures, successes and firewall blocks over a few addresses and users, mostly in order."""
    rng = random.Random(seed)
    ips = [f"203.0.113.{i}" for i in range(6)]
    out: list[Event] = []
    t = 0.0
    for _ in range(n):
        t += rng.choice([0.5, 1, 3, 7, 20])
        jitter = -rng.random() * 20 if rng.random() < 0.1 else 0.0  # some out-of-order arrivals
        ip, agency = rng.choice(ips), rng.choice(["a1", "a2"])
        kind = rng.random()
        if kind < 0.7:
            out.append(
                fail(t + jitter, ip, user=rng.choice(["root", "admin", "oracle", "pi"]), agency=agency)
            )
        elif kind < 0.85:
            out.append(ok(t + jitter, ip, agency=agency))
        else:
            out.append(ev(t + jitter, product="firewall", action="block", dst_ip=ip, agency=agency))
    return out


ALL_TYPES = (
    EVENT_COUNT.replace("gte: 3", "gte: 4")
    + corr(
        "  type: value_count\n  rules: [failed_login]\n  group-by: [src_ip, agency]\n  timespan: 2m\n"
        "  condition: {gte: 3, field: user}\n",
        rid="0c0c0c0c-0000-4000-8000-000000000002",
    )
    + TEMPORAL.replace("00000000000c", "000000000003")
    + ORDERED.replace("00000000000c", "000000000004")
    + EVENT_COUNT.replace("gte: 3", "lte: 1").replace("00000000000c", "000000000005")
)


def alert_set(alerts: Iterable[Alert]) -> list[dict[str, Any]]:
    return sorted(
        (a.to_dict() | {"extra": dict(a.extra)} for a in alerts), key=lambda d: (d["alert_id"], d["time"])
    )


def test_replay_gives_the_same_alerts_and_ids() -> None:
    events = stream(1)
    engine, ce1 = engines(ALL_TYPES)
    first = [a for _, a in run(engine, ce1, events)] + flush(ce1)
    _, ce2 = engines(ALL_TYPES)
    second = [a for _, a in run(engine, ce2, events)] + flush(ce2)
    assert [a.to_dict() for a in first] == [a.to_dict() for a in second]
    assert {a.rule_id[-1] for a in first} == {"c", "2", "3", "4", "5"}  # every type fired
    assert len({a.alert_id for a in first}) == len(first)
    assert ce1.snapshot() == ce2.snapshot()


def test_snapshot_restore_across_a_restart_gives_the_uninterrupted_alerts() -> None:
    events = stream(2)
    engine, whole = engines(ALL_TYPES)
    expected = [a for _, a in run(engine, whole, events)] + flush(whole)

    _, before = engines(ALL_TYPES)
    got = [a for _, a in run(engine, before, events[:250])]
    saved = before.snapshot()
    _, after = engines(ALL_TYPES)  # a new process: fresh engine, state from the snapshot
    report = after.restore(saved)
    assert len(report.restored) == 5 and report.dropped == ()
    assert after.snapshot() == saved
    got += [a for _, a in run(engine, after, events[250:])] + flush(after)
    assert [a.to_dict() for a in got] == [a.to_dict() for a in expected]


def test_restore_drops_changed_rules_and_rejects_garbage() -> None:
    engine, ce = engines(EVENT_COUNT)
    run(engine, ce, [fail(0), fail(1)])
    _, changed = engines(EVENT_COUNT.replace("60s", "61s"))
    report = changed.restore(ce.snapshot())
    assert report.restored == () and report.dropped == ("0c0c0c0c-0000-4000-8000-00000000000c",)
    assert changed.group_count() == 0
    for bad in (b"", b"[]", b'{"version": 99}', b'{"version": 1, "rules": {"x": 1}}'):
        with pytest.raises(ValueError, match="bad correlation snapshot"):
            changed.restore(bad)


def test_without_a_snapshot_state_is_rebuilt_empty() -> None:
    engine, ce = engines(EVENT_COUNT)
    run(engine, ce, [fail(0), fail(1)])
    _, restarted = engines(EVENT_COUNT)  # no snapshot: the straddling window misses its first events
    assert run(engine, restarted, [fail(2)]) == []


# ---------------------------------------------------------------------------------- partitioning


def test_split_by_key_across_two_engines_gives_the_same_alerts() -> None:
    events = stream(3, n=800)
    engine, single = engines(ALL_TYPES)
    expected = [a for _, a in run(engine, single, events)] + flush(single)

    _, w0 = engines(ALL_TYPES)
    _, w1 = engines(ALL_TYPES)
    got: list[Alert] = []
    routed = 0
    for e in events:
        hits = engine.match(e)
        keys = single.correlation_keys(e, hits)
        inputs = single.inputs(e, hits)
        assert [k for _, k in keys] == [k for k, _ in inputs]
        for key, inp in inputs:
            record = CorrelationInput.from_json(inp.to_json())  # the bus carries JSON
            assert record == inp
            worker = (w0, w1)[zlib.crc32(key) % 2]
            got += worker.observe_input(record)
            routed += 1
    got += flush(w0) + flush(w1)
    assert routed > len(events) // 2 and w0.group_count() == 0 == w1.group_count()
    assert {a.rule_id for a in expected} >= {"0c0c0c0c-0000-4000-8000-00000000000c"}
    assert alert_set(got) == alert_set(expected)


def test_keys_are_stable_and_records_carry_only_needed_fields() -> None:
    engine, ce = engines(EVENT_COUNT)
    e = fail(0, user="root", message="Failed password")
    [(rule_id, key)] = ce.correlation_keys(e, engine.match(e))
    [(key2, record)] = ce.inputs(fail(5, user="other"), engine.match(fail(5)))
    assert rule_id == "0c0c0c0c-0000-4000-8000-00000000000c" and key == key2
    assert dict(record.fields) == {"src_ip": "203.0.113.7"} and record.correlation_id == rule_id
    assert ce.correlation_keys(ok(0), engine.match(ok(0))) == []
    assert ce.inputs(fail(0, "B"), engine.match(fail(0, "B")))[0][0] != key


def test_records_for_unknown_rules_are_counted_not_applied() -> None:
    _, ce = engines(EVENT_COUNT)
    record = CorrelationInput("e", T0, "a", "s", "h", "ip", ("x",), {}, correlation_id="gone")
    assert ce.observe_input(record) == [] and ce.stats.unknown_rule == 1
    with pytest.raises(ValueError):
        CorrelationInput.from_json(b'{"v": 2}')
