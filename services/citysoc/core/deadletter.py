"""Dead letters: input that could not become an event, kept with the reason and the raw bytes."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import orjson

from citysoc.core.event import TRANSPORTS, Transport, json_object, stable_id, utc

Reason = Literal[
    "oversize",
    "bad_syslog",
    "bad_json",
    "bad_envelope",
    "bad_encoding",
    "unsupported_format",
    "empty",
    "store_rejected",
]
REASONS: tuple[str, ...] = get_args(Reason)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    dead_id: str
    received_at: datetime
    agency: str
    source_ip: str
    transport: Transport
    reason: Reason
    detail: str
    raw: bytes
    collector: str = ""

    @classmethod
    def make(
        cls,
        *,
        collector: str,
        connection: str,
        sequence: int,
        received_at: datetime,
        agency: str,
        source_ip: str,
        transport: Transport,
        reason: Reason,
        detail: str,
        raw: bytes,
    ) -> DeadLetter:
        return cls(
            dead_id=stable_id("dead", collector, connection, sequence, utc(received_at).isoformat()),
            received_at=utc(received_at),
            agency=agency,
            source_ip=source_ip,
            transport=transport,
            reason=reason,
            detail=detail[:1000],
            raw=raw,
            collector=collector,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dead_id": self.dead_id,
            "received_at": utc(self.received_at).isoformat(),
            "agency": self.agency,
            "source_ip": self.source_ip,
            "transport": self.transport,
            "reason": self.reason,
            "detail": self.detail,
            "raw_b64": base64.b64encode(self.raw).decode("ascii"),
            "collector": self.collector,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeadLetter:
        reason = d["reason"]
        transport = d["transport"]
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}")
        return cls(
            dead_id=str(d["dead_id"]),
            received_at=utc(datetime.fromisoformat(d["received_at"])),
            agency=str(d.get("agency", "")),
            source_ip=str(d.get("source_ip", "")),
            transport=transport,
            reason=reason,
            detail=str(d.get("detail", "")),
            raw=base64.b64decode(d.get("raw_b64", "")),
            collector=str(d.get("collector", "")),
        )

    @classmethod
    def from_json(cls, data: bytes) -> DeadLetter:
        return cls.from_dict(json_object(data, "dead letter"))
