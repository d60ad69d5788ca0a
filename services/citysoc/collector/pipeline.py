"""The collector pipeline, composed in one visible function: decode → parse → attribute.

Every step is pure (no ``await``, no I/O). ``process`` turns any frame into exactly one
:class:`Event` or one :class:`DeadLetter` and never raises: whatever a parser did not foresee
becomes a dead letter with the exception text, so arbitrary bytes cannot stop a collector.
The produce step (a sink) is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo

import orjson

from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.frames import Frame
from citysoc.core.deadletter import DeadLetter, Reason
from citysoc.core.event import Event, Format, Logsource, natural_event_id, transport_event_id
from citysoc.parsing.auditd import is_audit, parse_audit
from citysoc.parsing.cef import find_cef_leef, parse_cef_or_leef
from citysoc.parsing.errors import ParseError
from citysoc.parsing.jsonevents import Normalized, normalize_json
from citysoc.parsing.programs import program_fields, program_logsource
from citysoc.parsing.syslog import parse_syslog

AUDITD = Logsource(product="linux", service="auditd")


@dataclass(frozen=True, slots=True)
class PipelineContext:
    collector: str
    registry: SourceRegistry
    default_tz: tzinfo

    @classmethod
    def create(cls, collector: str, registry: SourceRegistry, default_tz: str) -> PipelineContext:
        return cls(collector, registry, ZoneInfo(default_tz))


def decode(frame: Frame) -> bytes:
    """Checks the frame is usable; raises ``ParseError`` for oversize or empty input."""
    if frame.truncated:
        raise ParseError("oversize", f"message exceeds the size limit (first {len(frame.data)} bytes kept)")
    data = frame.data.rstrip(b"\r\n\x00")
    if not data.strip():
        raise ParseError("empty", "empty message")
    return data


def parse(data: bytes, frame: Frame, ctx: PipelineContext) -> Normalized:
    if frame.kind == "json":
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise ParseError("bad_json", str(e)) from e
        return normalize_json(obj)
    if data[:1] == b"{":
        # JSON lines over syslog transports (agents that ship JSON over TCP).
        json_frame = Frame(
            data, "json", frame.transport, frame.peer_ip, frame.connection, frame.sequence, frame.received_at
        )
        return parse(data, json_frame, ctx)
    if data.startswith((b"CEF:", b"LEEF:")):  # bare CEF/LEEF lines, without a syslog header
        kind, cef_fields = parse_cef_or_leef(data.decode("utf-8", "replace"))
        return Normalized(cef_fields, kind, Logsource(), "", None, None, None)
    if data.startswith((b"type=", b"node=")):  # bare audit records (audisp or an agent over TCP)
        audit_fields, audit_time = parse_audit(data.decode("utf-8", "replace"))
        return Normalized(
            audit_fields, "auditd", AUDITD, str(audit_fields.get("node", "")), audit_time, None, None
        )
    msg = parse_syslog(data, received_at=frame.received_at, default_tz=ctx.default_tz)
    fields = msg.fields()
    fmt: Format = msg.variant
    if (at := find_cef_leef(msg.message)) >= 0:
        try:
            fmt, cef_fields = parse_cef_or_leef(msg.message[at:])
            fields.update(cef_fields)
        except ParseError:
            pass  # "CEF:" in ordinary text: the message stays plain syslog
    timestamp = msg.timestamp
    if is_audit(msg.message):
        try:
            audit_fields, audit_time = parse_audit(msg.message)
            fields.update(audit_fields)
            return Normalized(fields, "auditd", AUDITD, msg.hostname, audit_time or timestamp, None, None)
        except ParseError:
            pass  # looks like audit but is not: plain syslog
    fields.update(program_fields(msg.app_name, msg.message))
    logsource = program_logsource(msg.app_name) or Logsource()
    return Normalized(fields, fmt, logsource, msg.hostname, timestamp, None, None)


def attribute(p: Normalized, frame: Frame, ctx: PipelineContext) -> Event:
    who = ctx.registry.attribute(source_ip=frame.peer_ip, host=p.host, token_agency=frame.token_agency)
    host = p.host or frame.peer_ip
    if p.channel and p.record_id:
        event_id = natural_event_id(who.agency, host, p.channel, p.record_id)
    else:
        event_id = transport_event_id(ctx.collector, frame.connection, frame.sequence, frame.received_at)
    return Event(
        event_id=event_id,
        received_at=frame.received_at,
        event_time=p.event_time or frame.received_at,
        agency=who.agency,
        system=who.system,
        source_host=host,
        source_ip=frame.peer_ip,
        transport=frame.transport,
        format=p.format,
        raw=frame.data,
        fields=p.fields,
        logsource=p.logsource,
        collector=ctx.collector,
        attributed=who.attributed,
        security_level=who.security_level,
    )


def dead_letter(frame: Frame, ctx: PipelineContext, reason: Reason, detail: str) -> DeadLetter:
    return DeadLetter.make(
        collector=ctx.collector,
        connection=frame.connection,
        sequence=frame.sequence,
        received_at=frame.received_at,
        # Attributed like events (token, else source address), so each agency sees its own errors.
        agency=ctx.registry.attribute(
            source_ip=frame.peer_ip, host="", token_agency=frame.token_agency
        ).agency,
        source_ip=frame.peer_ip,
        transport=frame.transport,
        reason=reason,
        detail=detail,
        raw=frame.data,
    )


def process(frame: Frame, ctx: PipelineContext) -> Event | DeadLetter:
    """decode → parse → attribute; any failure becomes a dead letter."""
    try:
        data = decode(frame)
        parsed = parse(data, frame, ctx)
        return attribute(parsed, frame, ctx)
    except ParseError as e:
        return dead_letter(frame, ctx, e.reason, e.detail)
    except Exception as e:  # a parser bug must not stop the collector; keep the input for analysis
        return dead_letter(frame, ctx, "unsupported_format", f"{type(e).__name__}: {e}")
