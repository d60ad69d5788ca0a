"""JSON event shapes normalised to flat Sigma field names. Pure functions.

Recognised shapes (first match wins):

* evtx JSON — ``{"Event": {"System": ..., "EventData" | "UserData": ...}}`` — flattened by the
  convention of ``shared/corpora/README.md`` (``Event.System.X`` → ``X``, ``#attributes`` children →
  ``<parent>_<attr>``, EventData names stripped of non-alphanumerics, unnamed ``Data`` joined).
* Winlogbeat / ECS — ``winlog.event_data.*`` → top level; ``winlog.channel`` → ``Channel`` etc.
* NXLog ``im_msvistalog`` — already flat; ``Hostname`` → ``Computer``, ``SourceName`` → ``Provider_Name``.
* Already-flattened Windows events (``Channel`` and ``EventID`` at top level).
* Anything else: nested objects flattened with dots (``{"a": {"b": 1}}`` → ``a.b``).

A JSON ``null`` is an absent field, so it is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from citysoc.core.event import Format, Logsource
from citysoc.parsing.errors import ParseError
from citysoc.parsing.timestamps import parse_iso

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_MAX_DEPTH = 16

_CHANNEL_SERVICE = {
    "microsoft-windows-sysmon/operational": "sysmon",
    "security": "security",
    "system": "system",
    "application": "application",
    "microsoft-windows-powershell/operational": "powershell",
    "windows powershell": "powershell-classic",
    "microsoft-windows-windows defender/operational": "windefend",
    "microsoft-windows-taskscheduler/operational": "taskscheduler",
    "microsoft-windows-wmi-activity/operational": "wmi",
}


@dataclass(frozen=True, slots=True)
class Normalized:
    """What parsing knows of one record, before attribution (syslog parsing produces it too)."""

    fields: dict[str, Any]
    format: Format
    logsource: Logsource
    host: str
    event_time: datetime | None
    channel: str | None
    record_id: str | None


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) else str(v)


def _flatten_generic(obj: Mapping[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ParseError("bad_json", f"object nested deeper than {_MAX_DEPTH} levels")
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if v is None:
            continue
        if isinstance(v, Mapping):
            _flatten_generic(v, key + ".", out, depth + 1)
        elif isinstance(v, list):
            out[key] = [
                _scalar(x) if not isinstance(x, (Mapping, list)) else str(x) for x in v if x is not None
            ]
        else:
            out[key] = v


def _text(v: Any) -> Any:
    """The value of an evtx-JSON leaf: ``{"#text": x, "#attributes": ...}`` → x."""
    if isinstance(v, Mapping):
        return v.get("#text")
    return v


def _flatten_evtx(event: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    system = event.get("System") or {}
    if not isinstance(system, Mapping):
        raise ParseError("bad_json", "Event.System must be an object")
    for name, v in system.items():
        if isinstance(v, Mapping):
            attrs = v.get("#attributes")
            if isinstance(attrs, Mapping):
                for a, av in attrs.items():
                    if av is not None:
                        out[f"{name}_{a}"] = av
            text = v.get("#text")
            if text is not None:
                out[name] = text
        elif v is not None:
            out[name] = v
    data = event.get("EventData")
    if isinstance(data, Mapping):
        for name, v in data.items():
            if name == "#attributes":
                continue
            val = _text(v)
            if val is None:
                continue
            if name == "Data":
                out["Data"] = " ".join(str(x) for x in val) if isinstance(val, list) else val
            else:
                out[_NON_ALNUM.sub("", name)] = val
    user = event.get("UserData")
    if isinstance(user, Mapping):
        for wrapper in user.values():
            if isinstance(wrapper, Mapping):
                for name, v in wrapper.items():
                    val = _text(v)
                    if name != "#attributes" and val is not None and not isinstance(val, Mapping):
                        out[_NON_ALNUM.sub("", name)] = val
    return out


def _flatten_ecs(obj: Mapping[str, Any]) -> dict[str, Any]:
    winlog = obj["winlog"]
    out: dict[str, Any] = {}
    for name, v in (winlog.get("event_data") or {}).items():
        if v is not None:
            out[_NON_ALNUM.sub("", name)] = v
    for src, dst in (
        ("channel", "Channel"),
        ("event_id", "EventID"),
        ("record_id", "EventRecordID"),
        ("computer_name", "Computer"),
        ("provider_name", "Provider_Name"),
        ("provider_guid", "Provider_Guid"),
        ("task", "Task"),
        ("opcode", "Opcode"),
    ):
        if winlog.get(src) is not None:
            out[dst] = winlog[src]
    if isinstance(winlog.get("user_data"), Mapping):
        for name, v in winlog["user_data"].items():
            if v is not None and not isinstance(v, (Mapping, list)):
                out[_NON_ALNUM.sub("", name)] = v
    if "@timestamp" in obj:
        out["@timestamp"] = obj["@timestamp"]
    if "Computer" not in out and isinstance(obj.get("host"), Mapping) and obj["host"].get("name"):
        out["Computer"] = obj["host"]["name"]
    return out


def _event_id(v: Any) -> Any:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


def parse_time(v: Any) -> datetime | None:
    """Best-effort timestamp reading (ISO 8601 strings, epoch seconds/milliseconds); None if unreadable."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        secs = v / 1000 if v > 1e11 else v
        try:
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(v, str) or not v:
        return None
    dt = parse_iso(v)
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


_TIME_FIELDS = ("TimeCreated_SystemTime", "@timestamp", "TimeCreated", "EventTime", "timestamp", "time")


def normalize_json(obj: Any) -> Normalized:
    """Normalise one decoded JSON record. Raises ``ParseError`` for non-objects."""
    if not isinstance(obj, Mapping):
        raise ParseError("bad_json", f"record must be a JSON object, not {type(obj).__name__}")
    fmt: Format
    if isinstance(obj.get("Event"), Mapping) and "System" in obj["Event"]:
        fields, fmt = _flatten_evtx(obj["Event"]), "evtx_json"
    elif isinstance(obj.get("winlog"), Mapping):
        fields, fmt = _flatten_ecs(obj), "ecs"
    elif "SourceModuleType" in obj or ("Hostname" in obj and "Channel" in obj and "EventID" in obj):
        fields, fmt = {k: v for k, v in obj.items() if v is not None}, "nxlog"
        if "Computer" not in fields and "Hostname" in fields:
            fields["Computer"] = fields["Hostname"]
        if "Provider_Name" not in fields and "SourceName" in fields:
            fields["Provider_Name"] = fields["SourceName"]
        if "EventRecordID" not in fields and "RecordNumber" in fields:
            fields["EventRecordID"] = fields["RecordNumber"]
    else:
        fields, fmt = {}, "json"
        _flatten_generic(obj, "", fields, 0)
    channel = fields.get("Channel")
    if "EventID" in fields:
        fields["EventID"] = _event_id(fields["EventID"])
    logsource = Logsource()
    host = ""
    record_id: str | None = None
    if isinstance(channel, str) and channel:
        logsource = Logsource(product="windows", service=_CHANNEL_SERVICE.get(channel.lower()))
        host = str(fields.get("Computer") or fields.get("Hostname") or "")
        rid = fields.get("EventRecordID")
        record_id = None if rid is None or rid == "" else str(rid)
    else:
        channel = None
        for k in ("host", "hostname", "host.name", "Hostname", "Computer"):
            if isinstance(fields.get(k), str) and fields[k]:
                host = fields[k]
                break
        ls = obj.get("logsource")
        if isinstance(ls, Mapping):
            logsource = Logsource(
                product=_opt_str(ls.get("product")),
                service=_opt_str(ls.get("service")),
                category=_opt_str(ls.get("category")),
            )
    event_time = None
    for k in _TIME_FIELDS:
        if k in fields and (event_time := parse_time(fields[k])) is not None:
            break
    return Normalized(fields, fmt, logsource, host, event_time, channel, record_id)


def _opt_str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None
