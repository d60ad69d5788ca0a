"""Syslog message parsing (RFC 5424 and RFC 3164 with common vendor variants). Pure functions.

Contract: :func:`parse_syslog` takes one framed message (no trailing LF) and returns a
:class:`SyslogMessage` or raises :class:`ParseError`. A message must start with a valid ``<PRI>``;
after that, anything that is not RFC 5424 is read as RFC 3164, and a header that cannot be read
there either is kept as message content (RFC 3164 section 4.3.3), so only a missing or invalid
PRI makes a dead letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from citysoc.parsing.errors import ParseError
from citysoc.parsing.timestamps import parse_iso

_PRI = re.compile(rb"^<(\d{1,3})>")
_NIL = "-"
_BOM = "\ufeff"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1
    )
}
# "Mmm dd hh:mm:ss", "Mmm  d hh:mm:ss", optional year after the day, optional fraction.
_BSD_TS = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?:(?P<year>\d{4}) )?"
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,6}))?"
    r"(?: (?P<tz>[A-Z]{3,4}))?(?=$| )"
)
_ISO_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)(?=$| )")
_TAG = re.compile(r"^(?P<app>[^\s\[\]:]{1,48})(?:\[(?P<pid>[^\]\s]{1,32})\])?:(?: |$)")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,255}$")


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    facility: int
    severity: int
    timestamp: datetime | None
    hostname: str
    app_name: str
    procid: str
    msgid: str
    message: str
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    variant: Literal["rfc5424", "rfc3164"] = "rfc5424"

    def fields(self) -> dict[str, object]:
        """Flat fields as events carry them (structured data as ``sd.<id>.<param>``)."""
        out: dict[str, object] = {
            "facility": self.facility,
            "severity": self.severity,
            "hostname": self.hostname,
            "app_name": self.app_name,
            "procid": self.procid,
            "msgid": self.msgid,
            "message": self.message,
        }
        for sd_id, params in self.structured_data.items():
            for k, v in params.items():
                out[f"sd.{sd_id}.{k}"] = v
        return {k: v for k, v in out.items() if v != ""}


def _decode(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def parse_syslog(data: bytes, *, received_at: datetime, default_tz: tzinfo) -> SyslogMessage:
    m = _PRI.match(data)
    if not m:
        raise ParseError("bad_syslog", "message does not start with <PRI>")
    pri = int(m.group(1))
    if pri > 191 or (len(m.group(1)) > 1 and m.group(1).startswith(b"0")):
        raise ParseError("bad_syslog", f"invalid PRI <{m.group(1).decode()}>")
    rest = data[m.end() :]
    if rest[:2] == b"1 ":
        try:
            return _parse_5424(pri, rest[2:])
        except ParseError:
            pass  # not valid 5424 after all: fall back to the lenient BSD reading below
    return _parse_3164(pri, _decode(rest), received_at, default_tz)


# ---------------------------------------------------------------- RFC 5424


# TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, each a run of non-whitespace, each followed by one space.
_HEADER_5424 = re.compile(rb"(\S+) (\S+) (\S+) (\S+) (\S+) ")


def _parse_5424(pri: int, s: bytes) -> SyslogMessage:
    m = _HEADER_5424.match(s)
    if m is None:
        raise ParseError("bad_syslog", "truncated or invalid RFC 5424 header")
    ts_s, host, app, procid, msgid = (_decode(g) for g in m.groups())
    timestamp = None if ts_s == _NIL else _parse_rfc3339(ts_s)
    sd, pos = _parse_sd(s, m.end())
    msg = ""
    if pos < len(s):
        if s[pos : pos + 1] != b" ":
            raise ParseError("bad_syslog", "expected space after STRUCTURED-DATA")
        raw_msg = s[pos + 1 :]
        if raw_msg.startswith(b"\xef\xbb\xbf"):
            raw_msg = raw_msg[3:]
        msg = _decode(raw_msg)
    return SyslogMessage(
        facility=pri >> 3,
        severity=pri & 7,
        timestamp=timestamp,
        hostname="" if host == _NIL else host,
        app_name="" if app == _NIL else app,
        procid="" if procid == _NIL else procid,
        msgid="" if msgid == _NIL else msgid,
        message=msg,
        structured_data=sd,
        variant="rfc5424",
    )


def _parse_sd(s: bytes, pos: int) -> tuple[dict[str, dict[str, str]], int]:
    if s[pos : pos + 1] == b"-":
        return {}, pos + 1
    if s[pos : pos + 1] != b"[":
        raise ParseError("bad_syslog", "STRUCTURED-DATA must be '-' or start with '['")
    out: dict[str, dict[str, str]] = {}
    n = len(s)
    while pos < n and s[pos : pos + 1] == b"[":
        pos += 1
        end = pos
        while end < n and s[end : end + 1] not in (b" ", b"]"):
            end += 1
        sd_id = _decode(s[pos:end])
        if not sd_id or end >= n:
            raise ParseError("bad_syslog", "invalid SD-ID")
        params: dict[str, str] = {}
        pos = end
        while pos < n and s[pos : pos + 1] == b" ":
            pos += 1
            eq = s.find(b"=", pos)
            if eq < 0 or s[eq + 1 : eq + 2] != b'"':
                raise ParseError("bad_syslog", f"invalid SD-PARAM in [{sd_id}]")
            name = _decode(s[pos:eq])
            pos = eq + 2
            buf = bytearray()
            while True:
                if pos >= n:
                    raise ParseError("bad_syslog", f"unterminated SD-PARAM value in [{sd_id}]")
                c = s[pos]
                if c == 0x5C and pos + 1 < n and s[pos + 1] in b'"\\]':  # backslash escape
                    buf.append(s[pos + 1])
                    pos += 2
                elif c == 0x22:  # closing quote
                    pos += 1
                    break
                else:
                    buf.append(c)
                    pos += 1
            params[name] = _decode(bytes(buf))
        if s[pos : pos + 1] != b"]":
            raise ParseError("bad_syslog", f"unterminated SD-ELEMENT [{sd_id}]")
        pos += 1
        out[sd_id] = params
    return out, pos


def _parse_rfc3339(ts: str) -> datetime:
    dt = parse_iso(ts) if "T" in ts or "t" in ts else None
    if dt is None:
        raise ParseError("bad_syslog", f"invalid TIMESTAMP {ts!r}")
    if dt.tzinfo is None:
        raise ParseError("bad_syslog", f"TIMESTAMP without offset {ts!r}")
    return dt.astimezone(UTC)


# ---------------------------------------------------------------- RFC 3164 and variants


def _bsd_time(m: re.Match[str], received_at: datetime, tz: tzinfo) -> datetime | None:
    mon = _MONTHS.get(m["mon"])
    if mon is None:
        return None
    frac = (m["frac"] or "0").ljust(6, "0")
    local_now = received_at.astimezone(tz)
    year = int(m["year"]) if m["year"] else local_now.year
    try:
        dt = datetime(year, mon, int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]), int(frac), tzinfo=tz)
    except ValueError:
        return None
    if not m["year"] and dt - local_now > timedelta(days=2):
        # No year on the wire: a December message received in January belongs to last year.
        dt = dt.replace(year=year - 1)
    return dt.astimezone(UTC)


def _parse_3164(pri: int, rest: str, received_at: datetime, tz: tzinfo) -> SyslogMessage:
    timestamp: datetime | None = None
    body = rest
    if m := _BSD_TS.match(rest):
        timestamp = _bsd_time(m, received_at, ZoneInfo("UTC") if m["tz"] == "UTC" else tz)
        body = rest[m.end() :].lstrip(" ")
    elif m2 := _ISO_TS.match(rest):
        try:
            timestamp = _parse_rfc3339(m2.group(1))
        except ParseError:
            timestamp = None
        body = rest[m2.end() :].lstrip(" ")
    hostname = ""
    if timestamp is not None:
        # After a timestamp comes HOSTNAME, unless the sender left it out and went straight to the
        # TAG ("sshd[12]: ..."), which many devices do.
        first, _, after = body.partition(" ")
        if first and not _TAG.match(body) and _HOSTNAME.match(first):
            hostname, body = first, after
    app, procid, message = "", "", body
    if tm := _TAG.match(body):
        app, procid, message = tm["app"], tm["pid"] or "", body[tm.end() :]
    return SyslogMessage(
        facility=pri >> 3,
        severity=pri & 7,
        timestamp=timestamp,
        hostname=hostname,
        app_name=app,
        procid=procid,
        msgid="",
        message=message.lstrip(_BOM),
        variant="rfc3164",
    )
