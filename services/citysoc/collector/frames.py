"""What a listener hands to the pipeline: one framed message and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from citysoc.core.event import Transport

Kind = Literal["syslog", "json"]


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    kind: Kind
    transport: Transport
    peer_ip: str
    connection: str
    """Identifies the connection (or UDP socket / HTTP request) within this collector instance."""
    sequence: int
    """Position of the frame within its connection; with ``connection`` it makes the event id unique."""
    received_at: datetime
    token_agency: str | None = None
    truncated: bool = False
    """The frame exceeded the size limit; ``data`` holds only its head."""
