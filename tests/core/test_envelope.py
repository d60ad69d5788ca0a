import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citysoc.core.alert import Alert, alert_id_for_event, alert_id_for_window
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event, Logsource, natural_event_id, stable_id, transport_event_id
from citysoc.core.watermark import PendingTracker

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def event(raw: bytes = b"<13>1 - h a - - - x", eid: str = "", received: datetime = T0) -> Event:
    return Event(
        eid or stable_id(raw, received),
        received,
        received,
        "a1",
        "s1",
        "h",
        "10.0.0.1",
        "udp",
        "rfc5424",
        raw,
        {"message": "x", "n": 3, "l": ["a", "b"]},
        Logsource("linux", "sshd", None),
        "c1",
        True,
    )


def test_ids_are_deterministic_uuid_v8_and_unambiguous() -> None:
    a = stable_id("ab", "c")
    assert a == stable_id("ab", "c") and a != stable_id("a", "bc")
    assert a[14] == "8"  # version nibble
    assert natural_event_id("a", "DC01", "Security", 5) == natural_event_id("a", "dc01", "security", "5")
    assert transport_event_id("c", "conn", 1, T0) != transport_event_id("c", "conn", 2, T0)
    assert alert_id_for_event("r", "e") != alert_id_for_event("r", "e2")
    assert alert_id_for_window("r", [("b", "2"), ("a", "1")], T0) == alert_id_for_window(
        "r", [("a", "1"), ("b", "2")], T0
    )


def test_event_round_trip_keeps_raw_bytes_exactly() -> None:
    for raw in (b"plain text", b"\xff\xfe binary \x00 \xe9"):
        e = event(raw)
        d = json.loads(e.to_json())
        assert d["raw_encoding"] == ("utf-8" if raw == b"plain text" else "base64")
        assert Event.from_json(e.to_json()) == e


def test_wire_forms_follow_the_published_schemas() -> None:
    for name, obj in (
        ("event", event().to_dict()),
        (
            "alert",
            Alert(
                "id", "r", "t", "high", "test", ("attack.t1110",), "a", "s", "h", ("e",), {"f": "v"}, T0, T0
            ).to_dict(),
        ),
        (
            "dead_letter",
            DeadLetter.make(
                collector="c",
                connection="x",
                sequence=1,
                received_at=T0,
                agency="",
                source_ip="ip",
                transport="tcp",
                reason="bad_syslog",
                detail="d",
                raw=b"\x00",
            ).to_dict(),
        ),
    ):
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        assert set(schema["required"]) == set(obj), name
        assert set(schema["properties"]) == set(obj), name


def test_malformed_envelopes_raise_value_errors() -> None:
    d = event().to_dict()
    for key, value in (("transport", "carrier-pigeon"), ("format", "xml"), ("raw_encoding", "rot13")):
        with pytest.raises(ValueError):
            Event.from_dict({**d, key: value})
    with pytest.raises(KeyError):
        Event.from_dict({k: v for k, v in d.items() if k != "event_id"})


def test_pending_tracker_never_passes_an_in_flight_event() -> None:
    t = PendingTracker()
    e1, e2, e3 = (event(eid=str(i), received=T0.replace(second=i)) for i in (1, 2, 3))
    t.begin([e1, e2])
    t.begin([e3])
    t.done([e3])  # newer batch finished first
    assert t.low_watermark() == e1.received_at
    t.done([e1])
    assert t.low_watermark() == e2.received_at
    t.done([e2])
    assert t.low_watermark() == e3.received_at and t.in_flight() == 0
    t.begin([e1])
    t.abandon([e1])
    assert t.low_watermark() == e3.received_at
