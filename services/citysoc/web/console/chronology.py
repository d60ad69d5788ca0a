"""An incident's timeline: what happened when, oldest first, built from the incident and what hangs
off it (alert groups, tasks, evidence and its custody, observables, reports). Pure: no I/O.

This is the story of the incident (the part of form 04 that says when it was detected, contained and
resolved, and what was done by whom), not its change log: the history section on the same page is the
audit trail of every change.

Each moment has a ``kind`` (its catalog key is ``chronology.<kind>``), an optional ``subject`` (a group
title, task title, file name …) and an optional agency id. Moments at the same instant keep a fixed
order (the order of ``KINDS``), so the timeline reads the same on every render.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

Kind = Literal[
    "first_alert",
    "detected",
    "acknowledged",
    "observable",
    "evidence",
    "custody",
    "task_assigned",
    "task_done",
    "contained",
    "last_alert",
    "initial_report",
    "report_sent",
    "resolved",
    "closed",
]
KINDS: tuple[Kind, ...] = get_args(Kind)
_RANK = {k: n for n, k in enumerate(KINDS)}


@dataclass(frozen=True, slots=True)
class Moment:
    at: datetime
    kind: Kind
    subject: str = ""
    agency_id: int | None = None


class IncidentTimes(Protocol):
    @property
    def detected_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def contained_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def closed_at(self) -> datetime | None: ...


class GroupTimes(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def first_seen(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...


class TaskTimes(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def agency_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...


class CustodyTimes(Protocol):
    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def holder(self) -> str: ...


class EvidenceTimes(Protocol):
    @property
    def file_name(self) -> str: ...
    @property
    def acquired_at(self) -> datetime: ...
    @property
    def custody(self) -> Sequence[CustodyTimes]: ...


class ObservableTimes(Protocol):
    @property
    def kind(self) -> object: ...
    @property
    def value(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class ReportTimes(Protocol):
    @property
    def kind(self) -> object: ...
    @property
    def sent_at(self) -> datetime | None: ...


def _value(v: object) -> str:
    return str(getattr(v, "value", v))


def chronology(
    incident: IncidentTimes,
    *,
    groups: Iterable[GroupTimes] = (),
    tasks: Iterable[TaskTimes] = (),
    evidence: Iterable[EvidenceTimes] = (),
    observables: Iterable[ObservableTimes] = (),
    reports: Iterable[ReportTimes] = (),
) -> list[Moment]:
    """The incident's moments, oldest first. Alert groups give the first and the last alert of the
    incident (not one line per group); the ``acquired`` custody entry is the evidence line itself."""
    out: list[Moment] = [Moment(incident.detected_at, "detected")]
    marks: tuple[tuple[datetime | None, Kind], ...] = (
        (incident.acknowledged_at, "acknowledged"),
        (incident.contained_at, "contained"),
        (incident.resolved_at, "resolved"),
        (incident.closed_at, "closed"),
    )
    out += [Moment(at, kind) for at, kind in marks if at is not None]
    seen = list(groups)
    if seen:
        first = min(seen, key=lambda g: g.first_seen)
        last = max(seen, key=lambda g: g.last_seen)
        out.append(Moment(first.first_seen, "first_alert", first.title))
        if last.last_seen > first.first_seen:
            out.append(Moment(last.last_seen, "last_alert", last.title))
    for t in tasks:
        out.append(Moment(t.created_at, "task_assigned", t.title, t.agency_id))
        if t.completed_at is not None:
            out.append(Moment(t.completed_at, "task_done", t.title, t.agency_id))
    for e in evidence:
        out.append(Moment(e.acquired_at, "evidence", e.file_name))
        out += [
            Moment(c.at, "custody", f"{e.file_name}: {c.action} → {c.holder}")
            for c in e.custody
            if c.action != "acquired"
        ]
    out += [Moment(o.created_at, "observable", f"{_value(o.kind)} {o.value}") for o in observables]
    sent = sorted(((r.sent_at, _value(r.kind)) for r in reports if r.sent_at is not None), key=lambda x: x[0])
    first_initial = next((n for n, (_, k) in enumerate(sent) if k == "initial"), None)
    for n, (at, report_kind) in enumerate(sent):
        kind: Kind = "initial_report" if n == first_initial else "report_sent"
        out.append(Moment(at, kind, report_kind))
    return sorted(out, key=lambda m: (m.at, _RANK[m.kind]))
