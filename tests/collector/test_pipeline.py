"""The pure collector pipeline: every frame becomes exactly one event or one dead letter."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.frames import Frame, Kind
from citysoc.collector.pipeline import PipelineContext, process
from citysoc.core.config import Settings
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import UNATTRIBUTED, Event

SETTINGS = Settings.model_validate(
    {
        "agencies": [{"code": "hcm-dost", "default_system": "portal"}, {"code": "q1"}],
        "sources": [
            {"agency": "hcm-dost", "system": "mail", "cidrs": ["10.1.0.0/16"], "hostnames": ["mail01"]},
            {"agency": "q1", "system": "web", "cidrs": ["10.1.2.0/24"]},
        ],
    }
)
CTX = PipelineContext.create("c1", SourceRegistry(SETTINGS), "Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def frame(
    data: bytes,
    kind: Kind = "syslog",
    peer: str = "10.1.9.9",
    seq: int = 0,
    agency: str | None = None,
    truncated: bool = False,
) -> Frame:
    return Frame(data, kind, "http" if kind == "json" else "tcp", peer, "conn-1", seq, NOW, agency, truncated)


def test_syslog_event_envelope_and_attribution() -> None:
    raw = b"<86>Nov 23 12:00:01 web01 sshd[7]: Failed password for root from 203.0.113.9 port 5022 ssh2"
    ev = process(frame(raw, peer="10.1.2.3"), CTX)
    assert isinstance(ev, Event)
    assert (ev.agency, ev.system, ev.attributed) == ("q1", "web", True)  # longest prefix wins
    assert ev.raw == raw and ev.format == "rfc3164" and ev.source_host == "web01"
    assert ev.fields["user"] == "root" and ev.fields["src_ip"] == "203.0.113.9"
    assert ev.logsource.product == "linux" and ev.logsource.service == "sshd"
    assert ev.event_time == datetime(2026, 11, 23, 5, 0, 1, tzinfo=UTC)


def test_unknown_source_is_kept_and_flagged() -> None:
    ev = process(frame(b"<13>1 2026-11-23T10:00:00Z h a - - - x", peer="192.0.2.1"), CTX)
    assert isinstance(ev, Event)
    assert (ev.agency, ev.system, ev.attributed) == (UNATTRIBUTED, UNATTRIBUTED, False)


def test_http_agency_comes_from_token_not_payload_or_other_agency_sources() -> None:
    # The source IP belongs to q1's range, but the token says hcm-dost: hcm-dost it is.
    ev = process(frame(b'{"host": "x", "agency": "q1"}', "json", peer="10.1.2.3", agency="hcm-dost"), CTX)
    assert isinstance(ev, Event) and ev.agency == "hcm-dost" and ev.system == "mail"
    ev2 = process(frame(b'{"host": "mail01"}', "json", peer="127.0.0.1", agency="hcm-dost"), CTX)
    assert isinstance(ev2, Event) and ev2.system == "mail"
    ev3 = process(frame(b'{"host": "other"}', "json", peer="127.0.0.1", agency="hcm-dost"), CTX)
    assert isinstance(ev3, Event) and ev3.system == "portal"


def test_event_ids_identical_lines_differ_redelivery_same() -> None:
    raw = b"<13>1 2026-11-23T10:00:00Z h a - - - same"
    a, b = process(frame(raw, seq=1), CTX), process(frame(raw, seq=2), CTX)
    assert isinstance(a, Event) and isinstance(b, Event) and a.event_id != b.event_id
    again = process(frame(raw, seq=1), CTX)
    assert isinstance(again, Event) and again.event_id == a.event_id


def test_windows_natural_id_ignores_transport() -> None:
    rec = b'{"Channel": "Security", "EventID": 4624, "Computer": "DC01", "EventRecordID": 99, "Hostname": "DC01"}'
    a = process(frame(rec, "json", seq=1, agency="q1"), CTX)
    b = process(Frame(rec, "json", "http", "10.9.9.9", "other-conn", 7, NOW, "q1"), CTX)
    assert isinstance(a, Event) and isinstance(b, Event) and a.event_id == b.event_id
    c = process(frame(rec, "json", agency="hcm-dost"), CTX)  # another agency's record 99 is another event
    assert isinstance(c, Event) and c.event_id != a.event_id


def test_bad_inputs_become_dead_letters_with_reason_and_raw() -> None:
    cases = [
        (frame(b"garbage without pri"), "bad_syslog"),
        (frame(b'{"broken": ', "json", agency="q1"), "bad_json"),
        (frame(b"[1, 2]", "json", agency="q1"), "bad_json"),
        (frame(b"   ", "syslog"), "empty"),
        (frame(b"<13>" + b"x" * 100, truncated=True), "oversize"),
    ]
    for f, reason in cases:
        out = process(f, CTX)
        assert isinstance(out, DeadLetter), f
        assert out.reason == reason and out.raw == f.data and out.detail


def test_json_over_tcp_is_parsed_as_json() -> None:
    ev = process(frame(b'{"host": "a1", "msg": "x"}'), CTX)
    assert isinstance(ev, Event) and ev.format == "json" and ev.fields["msg"] == "x"


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=600), kind=st.sampled_from(["syslog", "json"]), truncated=st.booleans())
def test_arbitrary_bytes_never_raise(data: bytes, kind: Kind, truncated: bool) -> None:
    out = process(frame(data, kind, agency="q1" if kind == "json" else None, truncated=truncated), CTX)
    assert isinstance(out, (Event, DeadLetter))
    assert out.raw == data
    if isinstance(out, Event):  # and what became an event survives the bus round trip
        assert Event.from_json(out.to_json()) == out


@settings(max_examples=200, deadline=None)
@given(
    pri=st.integers(0, 191),
    host=st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    app=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    msg=st.text(max_size=200).filter(lambda s: "\n" not in s),
)
def test_any_well_formed_5424_parses(pri: int, host: str, app: str, msg: str) -> None:
    raw = f"<{pri}>1 2026-11-23T10:00:00.5+07:00 {host} {app} - - - {msg}".encode()
    ev = process(frame(raw), CTX)
    assert isinstance(ev, Event) and ev.format == "rfc5424"
    # Trailing CR/LF/NUL terminators are framing, not content; one leading BOM marks UTF-8 (RFC 5424 6.4).
    expected = msg.rstrip("\r\n\x00")
    expected = expected[1:] if expected.startswith("\ufeff") else expected
    assert ev.fields["hostname"] == host and ev.fields.get("message", "") == expected
    assert ev.fields["facility"] == pri >> 3 and ev.fields["severity"] == pri & 7


def test_cef_and_leef_inside_syslog_and_bare() -> None:
    raw = b"<134>Nov 23 10:00:00 fw01 CEF:0|Fortinet|FortiGate|7.2|13|blocked|7|src=10.1.2.3 dst=8.8.8.8 act=deny"
    ev = process(frame(raw), CTX)
    assert isinstance(ev, Event) and ev.format == "cef"
    assert (
        ev.fields["cef.device_product"] == "FortiGate"
        and ev.fields["act"] == "deny"
        and ev.fields["hostname"] == "fw01"
    )
    bare = process(frame(b"LEEF:1.0|IBM|QRadar|7|42|src=1.2.3.4\tusrName=an"), CTX)
    assert isinstance(bare, Event) and bare.format == "leef" and bare.fields["usrName"] == "an"
    # "CEF:" in ordinary text is not CEF: the message stays plain syslog.
    txt = process(frame(b"<13>Nov 23 10:00:00 h app: see CEF:0 docs"), CTX)
    assert isinstance(txt, Event) and txt.format == "rfc3164" and txt.fields["message"] == "see CEF:0 docs"


def test_auditd_over_syslog_and_bare() -> None:
    rec = 'type=EXECVE msg=audit(1763892000.5:77): argc=2 a0="wget" a1="http://203.0.113.9/x"'
    ev = process(frame(f"<14>Nov 23 10:00:00 web01 audispd: {rec}".encode()), CTX)
    assert isinstance(ev, Event) and ev.format == "auditd"
    assert ev.logsource.product == "linux" and ev.logsource.service == "auditd"
    assert ev.fields["type"] == "EXECVE" and ev.fields["a0"] == "wget" and ev.fields["hostname"] == "web01"
    assert ev.event_time == datetime(2025, 11, 23, 10, 0, 0, 500000, tzinfo=UTC)
    bare = process(frame(("node=db01 " + rec).encode()), CTX)
    assert isinstance(bare, Event) and bare.format == "auditd" and bare.source_host == "db01"


def test_security_level_comes_from_the_sources_registry() -> None:
    s = Settings.model_validate(
        {
            "agencies": [{"code": "q1"}],
            "sources": [{"agency": "q1", "system": "web", "security_level": 3, "cidrs": ["10.3.0.0/16"]}],
        }
    )
    ctx = PipelineContext.create("c1", SourceRegistry(s), "Asia/Ho_Chi_Minh")
    ev = process(frame(b"<13>1 - h a - - - x", peer="10.3.1.1"), ctx)
    assert isinstance(ev, Event) and (ev.system, ev.security_level) == ("web", 3)
    other = process(frame(b"<13>1 - h a - - - x", peer="192.0.2.7"), ctx)
    assert isinstance(other, Event) and other.security_level == 0
    assert Event.from_json(ev.to_json()).security_level == 3
