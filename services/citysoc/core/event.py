"""The event envelope: what every stage after the collector sees.

Contract (``schemas/event.schema.json`` is the wire form of this type):

* ``event_id`` is assigned once, at the collector, before the bus, so every redelivery carries it.
  It is a hash of the record's natural identity when the source has one (Windows: agency, host,
  channel, record id), otherwise of collector instance, connection, sequence number and receive time.
  Two identical lines sent twice are therefore two events.
* ``raw`` is kept byte-exact. On the wire it is UTF-8 text when the bytes decode, else base64.
* ``fields`` are the parsed, flattened fields (Sigma field names for Windows; the project's syslog
  names otherwise). Values are JSON scalars or lists of them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson

Transport = Literal["udp", "tcp", "tls", "http", "replay"]
Format = Literal[
    "rfc5424", "rfc3164", "json", "cef", "leef", "evtx_json", "ecs", "nxlog", "auditd", "unknown"
]
TRANSPORTS: tuple[str, ...] = get_args(Transport)
FORMATS: tuple[str, ...] = get_args(Format)

UNATTRIBUTED = "unattributed"
"""Agency/system code given to events whose source is not in the sources registry (kept, flagged)."""


def stable_id(*parts: object) -> str:
    """A deterministic UUID (RFC 9562 version 8) from the given parts.

    Each part is length-prefixed, so ``("a", "bc")`` and ``("ab", "c")`` differ. Bytes parts are
    read as latin-1, so every byte value maps to one distinct character.
    """
    # Length-prefixed text parts: unambiguous, and one encode instead of one per part.
    text = "".join(
        f"{len(t)}:{t}" for t in (p.decode("latin-1") if isinstance(p, bytes) else str(p) for p in parts)
    )
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    raw = bytearray(digest)
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object from the wire; ``ValueError`` (orjson's decode error is one) otherwise."""
    obj = orjson.loads(data)
    if not isinstance(obj, dict):
        raise ValueError(f"{what} must be a JSON object")
    return obj


def natural_event_id(agency: str, host: str, channel: str, record_id: str | int) -> str:
    """Event id for sources with a natural identity (Windows event logs)."""
    return stable_id("win", agency, host.lower(), channel.lower(), record_id)


def transport_event_id(collector: str, connection: str, sequence: int, received_at: datetime) -> str:
    """Event id for sources without a natural identity: where and when the collector received it."""
    return stable_id("seq", collector, connection, sequence, received_at.isoformat())


@dataclass(frozen=True, slots=True)
class Logsource:
    """Sigma logsource hints the collector knows (None where unknown)."""

    product: str | None = None
    service: str | None = None
    category: str | None = None


def utc(dt: datetime) -> datetime:
    """Normalise to an aware UTC datetime (naive values are taken as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    received_at: datetime
    event_time: datetime
    agency: str
    system: str
    source_host: str
    source_ip: str
    transport: Transport
    format: Format
    raw: bytes
    fields: Mapping[str, Any] = field(default_factory=dict)
    logsource: Logsource = Logsource()
    collector: str = ""
    attributed: bool = True
    security_level: int = 0
    """Security level 1-5 of the information system (Decree 85/2016) from the sources registry; 0 when
    unknown. Retention in the store depends on it."""

    def raw_text(self) -> str:
        """The raw message as text, undecodable bytes replaced (for keyword search and display)."""
        return self.raw.decode("utf-8", "replace")

    def to_dict(self) -> dict[str, Any]:
        """Wire form, as in ``schemas/event.schema.json``."""
        try:
            raw, encoding = self.raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            raw, encoding = base64.b64encode(self.raw).decode("ascii"), "base64"
        return {
            "event_id": self.event_id,
            "received_at": utc(self.received_at).isoformat(),
            "event_time": utc(self.event_time).isoformat(),
            "agency": self.agency,
            "system": self.system,
            "source_host": self.source_host,
            "source_ip": self.source_ip,
            "transport": self.transport,
            "format": self.format,
            "logsource": {
                "product": self.logsource.product,
                "service": self.logsource.service,
                "category": self.logsource.category,
            },
            "raw": raw,
            "raw_encoding": encoding,
            "fields": dict(self.fields),
            "collector": self.collector,
            "attributed": self.attributed,
            "security_level": self.security_level,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        """Inverse of :meth:`to_dict`. Raises ``KeyError``/``ValueError`` on a malformed envelope."""
        encoding = d.get("raw_encoding", "utf-8")
        if encoding == "base64":
            raw = base64.b64decode(d["raw"], validate=True)
        elif encoding == "utf-8":
            raw = str(d["raw"]).encode("utf-8")
        else:
            raise ValueError(f"unknown raw_encoding {encoding!r}")
        transport = d["transport"]
        fmt = d["format"]
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}")
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        ls = d.get("logsource") or {}
        return cls(
            event_id=str(d["event_id"]),
            received_at=utc(datetime.fromisoformat(d["received_at"])),
            event_time=utc(datetime.fromisoformat(d["event_time"])),
            agency=str(d["agency"]),
            system=str(d["system"]),
            source_host=str(d.get("source_host", "")),
            source_ip=str(d.get("source_ip", "")),
            transport=transport,
            format=fmt,
            raw=raw,
            fields=dict(d.get("fields") or {}),
            logsource=Logsource(ls.get("product"), ls.get("service"), ls.get("category")),
            collector=str(d.get("collector", "")),
            attributed=bool(d.get("attributed", True)),
            security_level=int(d.get("security_level", 0)),
        )

    @classmethod
    def from_json(cls, data: bytes) -> Event:
        return cls.from_dict(json_object(data, "event envelope"))
