from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from citysoc.parsing.errors import ParseError
from citysoc.parsing.syslog import parse_syslog

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def p(line: bytes):  # type: ignore[no-untyped-def]
    return parse_syslog(line, received_at=NOW, default_tz=HCM)


def test_rfc5424_examples_from_the_rfc() -> None:
    m = p(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8"
    )
    assert (m.facility, m.severity) == (4, 2)
    assert m.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert (
        m.hostname == "mymachine.example.com" and m.app_name == "su" and m.procid == "" and m.msgid == "ID47"
    )
    assert m.message == "'su root' failed for lonvick on /dev/pts/8"  # BOM stripped
    assert m.variant == "rfc5424"

    m = p(
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]'
    )
    assert m.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert m.message == ""
    assert m.fields()["sd.examplePriority@32473.class"] == "high"


def test_rfc5424_offsets_escapes_and_nil_timestamp() -> None:
    m = p(b'<13>1 2026-11-23T12:00:00.123456789+07:00 host app 42 - [x@1 a="q\\"uo\\\\te\\]"] msg')
    assert m.timestamp == datetime(2026, 11, 23, 5, 0, 0, 123456, tzinfo=UTC)
    assert m.structured_data["x@1"]["a"] == 'q"uo\\te]'
    assert m.procid == "42" and m.message == "msg"
    assert p(b"<13>1 - host app - - - hello").timestamp is None


def test_rfc3164_classic_and_year_inference() -> None:
    m = p(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert m.variant == "rfc3164" and m.hostname == "mymachine" and m.app_name == "su"
    # No year and no zone on the wire: the configured zone (UTC+7) and the receive year apply.
    assert m.timestamp == datetime(2026, 10, 11, 15, 14, 15, tzinfo=UTC)
    # A December message received in early January belongs to the previous year.
    jan = datetime(2027, 1, 1, 0, 5, tzinfo=UTC)
    m2 = parse_syslog(b"<13>Dec 31 23:59:00 h app: x", received_at=jan, default_tz=HCM)
    assert m2.timestamp is not None and m2.timestamp.year == 2026


def test_rfc3164_vendor_variants() -> None:
    m = p(b"<86>Nov 23 10:00:01 web01 sshd[1234]: Failed password for root from 203.0.113.9 port 5022 ssh2")
    assert (m.hostname, m.app_name, m.procid) == ("web01", "sshd", "1234")
    m = p(b"<86>Nov 23 10:00:01 sshd[1234]: no hostname here")  # hostname missing
    assert m.hostname == "" and m.app_name == "sshd" and m.message == "no hostname here"
    m = p(b"<13>Nov 23 2026 10:00:01 fw01 kernel: with year")
    assert m.timestamp == datetime(2026, 11, 23, 3, 0, 1, tzinfo=UTC) and m.hostname == "fw01"
    m = p(b"<13>2026-11-23T10:00:01+07:00 srv cron[9]: iso timestamp")
    assert m.timestamp == datetime(2026, 11, 23, 3, 0, 1, tzinfo=UTC) and m.app_name == "cron"
    m = p(b"<13>free text without a header")
    assert m.timestamp is None and m.message == "free text without a header"


@pytest.mark.parametrize(
    "line",
    [
        b"no pri at all",
        b"<>1 x",
        b"<999>1 2026-01-01T00:00:00Z h a - - - m",
        b"<01>Oct 11 22:14:15 h a: m",
        b"",
    ],
)
def test_invalid_pri_is_an_error(line: bytes) -> None:
    with pytest.raises(ParseError) as e:
        p(line)
    assert e.value.reason == "bad_syslog"


def test_broken_5424_falls_back_to_3164_reading() -> None:
    m = p(b'<13>1 2026-11-23T10:00:00Z host app - - [unterminated a="b')
    assert m.variant == "rfc3164"
    assert "unterminated" in m.message


def test_non_utf8_bytes_are_replaced_not_dropped() -> None:
    m = p(b"<13>1 2026-11-23T10:00:00Z host app - - - caf\xe9 \xff")
    assert m.message == "caf\ufffd \ufffd"
