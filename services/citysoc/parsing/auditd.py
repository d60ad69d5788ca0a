"""Linux audit records (auditd / audisp over syslog). Pure functions.

A record looks like ``type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59
success=yes exe="/usr/bin/curl" key="exec"``. Fields are the ``key=value`` pairs as Sigma's auditd
rules name them (``type``, ``exe``, ``key``, ``a0``…); quoted values are unquoted, and hex-encoded
values of the fields auditd hex-encodes (``proctitle``, ``cmd``, …) are decoded. The record's
``msg=audit(SECONDS.MS:SERIAL)`` gives the event time and serial.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from citysoc.parsing.errors import ParseError

_PAIR = re.compile(r'([A-Za-z0-9_-]+)=("(?:[^"\\]|\\.)*"|\'[^\']*\'|\S*)')
_AUDIT_MSG = re.compile(r"audit\((\d+)(?:\.(\d+))?:(\d+)\)")
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
_HEX_FIELDS = frozenset({"proctitle", "cmd", "data", "path", "name", "comm", "exe", "cwd"})


def is_audit(message: str) -> bool:
    return message.startswith("type=") or message.startswith("node=")


def parse_audit(message: str) -> tuple[dict[str, object], datetime | None]:
    """Fields of one audit record and its time; ``ParseError`` when it has no ``type=``."""
    fields: dict[str, object] = {}
    for key, value in _PAIR.findall(message):
        if value[:1] in ('"', "'"):
            value = value[1:-1]
        elif key in _HEX_FIELDS and _HEX.match(value):
            try:
                value = bytes.fromhex(value).replace(b"\x00", b" ").decode("utf-8", "replace")
            except ValueError:
                pass
        fields.setdefault(key, value)
    if "type" not in fields:
        raise ParseError("unsupported_format", "audit record without type=")
    when = None
    if m := _AUDIT_MSG.search(str(fields.get("msg", ""))):
        secs, frac, serial = m.groups()
        when = datetime.fromtimestamp(int(secs) + int((frac or "0").ljust(6, "0")[:6]) / 1e6, UTC)
        fields["audit_serial"] = int(serial)
    return fields, when
