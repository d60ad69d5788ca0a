"""Pure incident lifecycle: the transition table, its preconditions, the timestamps a transition
sets, the statutory clock and time metrics (no I/O, no ``await``).

Transitions (anything else is refused):

    new          -> triage | dismissed
    triage       -> in_progress | dismissed
    in_progress  -> containment | resolved
    containment  -> recovery | resolved
    recovery     -> resolved
    resolved     -> closed | in_progress      (reopen)
    closed       -> in_progress               (reopen)
    dismissed    -> triage                    (reopen)

Dismissing and reopening need a reason; no other transition takes one. Closing needs a
determination, a summary and every mandatory task done.

Timestamps: ``acknowledged_at`` is the first move out of ``new``; ``contained_at`` the first move
into ``recovery`` or ``resolved`` (containment over); ``resolved_at`` the latest move into
``resolved``; ``closed_at`` the latest close. Reopening clears ``resolved_at`` and ``closed_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from citysoc.db.enums import Determination, IncidentStatus

S = IncidentStatus
TRANSITIONS: Mapping[IncidentStatus, frozenset[IncidentStatus]] = {
    S.NEW: frozenset({S.TRIAGE, S.DISMISSED}),
    S.TRIAGE: frozenset({S.IN_PROGRESS, S.DISMISSED}),
    S.IN_PROGRESS: frozenset({S.CONTAINMENT, S.RESOLVED}),
    S.CONTAINMENT: frozenset({S.RECOVERY, S.RESOLVED}),
    S.RECOVERY: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.IN_PROGRESS}),
    S.CLOSED: frozenset({S.IN_PROGRESS}),
    S.DISMISSED: frozenset({S.TRIAGE}),
}
REOPENS = frozenset({(S.RESOLVED, S.IN_PROGRESS), (S.CLOSED, S.IN_PROGRESS), (S.DISMISSED, S.TRIAGE)})
OPEN_STATES = frozenset(TRANSITIONS) - {S.CLOSED, S.DISMISSED}


class TransitionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Facts:
    """What closing depends on."""

    determination: Determination | None
    summary: str | None
    open_mandatory_tasks: int


def needs_reason(current: IncidentStatus, to: IncidentStatus) -> bool:
    return to == S.DISMISSED or (current, to) in REOPENS


def check_transition(current: IncidentStatus, to: IncidentStatus, reason: str | None, facts: Facts) -> None:
    """Raise ``TransitionError`` (the reason in words) unless ``current -> to`` is allowed."""
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise TransitionError(f"cannot go from {current.value} to {to.value} (allowed: {allowed})")
    has_reason = reason is not None and reason.strip() != ""
    if needs_reason(current, to) and not has_reason:
        raise TransitionError(f"going from {current.value} to {to.value} needs a reason")
    if not needs_reason(current, to) and reason is not None:
        raise TransitionError("only dismissing and reopening take a reason")
    if to == S.CLOSED:
        missing = []
        if facts.determination is None:
            missing.append("a determination")
        if not (facts.summary or "").strip():
            missing.append("a summary")
        if facts.open_mandatory_tasks:
            missing.append(f"{facts.open_mandatory_tasks} mandatory task(s) to be done")
        if missing:
            raise TransitionError("closing needs " + ", ".join(missing))


@dataclass(frozen=True, slots=True)
class Times:
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


def stamp(current: IncidentStatus, to: IncidentStatus, at: datetime, t: Times) -> Times:
    """The timestamps after the (already checked) transition ``current -> to`` at ``at``."""
    ack, contained, resolved, closed = t.acknowledged_at, t.contained_at, t.resolved_at, t.closed_at
    if current == S.NEW and ack is None:
        ack = at
    if to in (S.RECOVERY, S.RESOLVED) and contained is None:
        contained = at
    if to == S.RESOLVED:
        resolved = at
    if to == S.CLOSED:
        closed = at
    if (current, to) in REOPENS:
        resolved = closed = None
    return Times(ack, contained, resolved, closed)


def report_due(detected_at: datetime, beyond_capability: bool, days: float) -> datetime:
    """When the initial report is due: ``days`` after detection, or at once when the incident is
    beyond the operator's capability (Circular 20/2017)."""
    return detected_at if beyond_capability else detected_at + timedelta(days=days)


ClockState = Literal["sent", "due", "overdue", "not_required"]


def clock_state(
    status: IncidentStatus, due_at: datetime, sent_at: datetime | None, now: datetime
) -> ClockState:
    """A dismissed incident (not an incident after all) owes no report."""
    if sent_at is not None:
        return "sent"
    if status == S.DISMISSED:
        return "not_required"
    return "overdue" if now >= due_at else "due"


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()
