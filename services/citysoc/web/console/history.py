"""What an incident's audit entry changed, for the timeline ("history") of the incident page.

``changes`` is pure: given an entry's action and its ``before``/``after`` snapshots (as the services
append them to the audit chain) it lists the fields that differ, each with a human label and both
values formatted for reading: enum values translated, times in the centre's zone, agency and incident
ids as codes, long text cut short. A field present on one side only (a creation, a removal, or an
extra such as ``linked_group_ids``) is listed with that side's value, unless it is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from citysoc.web.console.i18n import Translator

MAX_TEXT = 80
"""Longer values are cut to this many characters (the full record stays in the audit log)."""
HIDDEN = frozenset({"task_id", "comment_id", "observable_id", "custody_id", "report_id"})
"""Identities of the changed sub-object: the same on both sides of an edit, noise on a creation."""
AGENCY_FIELDS = frozenset({"agency_id", "lead_agency_id", "affected_agency_ids", "coordinating_agency_ids"})
INCIDENT_FIELDS = frozenset({"merged_into_id", "merged_incident_id"})
TIME_FIELDS = frozenset({"first_seen", "last_seen", "at"})
LABEL_PREFIX = "field."


@dataclass(frozen=True, slots=True)
class Names:
    """Codes to show instead of ids (an id missing here is shown as ``#id``)."""

    agencies: Mapping[int, str] = field(default_factory=dict)
    incidents: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    label: str
    before: str | None
    """``None``: the field is not on this side (it was added)."""
    after: str | None
    """``None``: the field is not on this side (it was removed)."""


def _empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def _family(action: str, name: str) -> str | None:
    """The catalog family that translates values of ``name`` in entries of ``action``."""
    if name == "status":
        if action.startswith("incident.task."):
            return "tstatus"
        return "rstatus" if action.startswith("incident.report.") else "istatus"
    if name == "kind" and action.startswith("incident.report."):
        return "rkind"
    if name == "action" and action == "incident.evidence.custody":
        return "custody"
    return {"severity": "severity", "determination": "determination"}.get(name)


def _cut(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_TEXT else flat[: MAX_TEXT - 1].rstrip() + "…"


def _code(names: Mapping[int, str], value: Any) -> str:
    return names.get(value, f"#{value}") if isinstance(value, int) else _cut(str(value))


def _time(t: Translator, value: str) -> str:
    try:
        return t.datetime(datetime.fromisoformat(value))
    except ValueError:
        return _cut(value)


def format_value(t: Translator, action: str, name: str, value: Any, names: Names) -> str:
    """One value as the timeline shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("history.yes") if value else t("history.no")
    if isinstance(value, list):
        return ", ".join(format_value(t, action, name, v, names) for v in value) or "—"
    if name in AGENCY_FIELDS:
        return _code(names.agencies, value)
    if name in INCIDENT_FIELDS:
        return _code(names.incidents, value)
    if (family := _family(action, name)) is not None:
        return t.enum(family, value)
    if isinstance(value, str) and (name.endswith("_at") or name in TIME_FIELDS):
        return _time(t, value)
    if name == "sha256" and isinstance(value, str):
        return value[:16] + "…"
    return _cut(str(value))


def label(t: Translator, name: str) -> str:
    key = LABEL_PREFIX + name
    return t(key) if t.has(key) else name.replace("_", " ")


def changes(
    t: Translator,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    names: Names | None = None,
) -> list[Change]:
    """The fields ``before`` and ``after`` differ in, in snapshot order (``after``'s first)."""
    names = names or Names()
    old, new = before or {}, after or {}
    out: list[Change] = []
    for name in [*new, *(k for k in old if k not in new)]:
        if name in HIDDEN:
            continue
        in_old, in_new = name in old, name in new
        if in_old and in_new and old[name] == new[name]:
            continue
        if in_old != in_new and _empty(old.get(name) if in_old else new.get(name)):
            continue
        out.append(
            Change(
                field=name,
                label=label(t, name),
                before=format_value(t, action, name, old[name], names) if in_old else None,
                after=format_value(t, action, name, new[name], names) if in_new else None,
            )
        )
    return out


def referenced(snapshots: Iterable[Mapping[str, Any] | None]) -> tuple[set[int], set[int]]:
    """The agency and incident ids the snapshots name (to look their codes up once per page)."""
    agencies: set[int] = set()
    incidents: set[int] = set()
    for snap in snapshots:
        for name, value in (snap or {}).items():
            target = agencies if name in AGENCY_FIELDS else incidents if name in INCIDENT_FIELDS else None
            if target is None:
                continue
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, int) and not isinstance(v, bool):
                    target.add(v)
    return agencies, incidents
