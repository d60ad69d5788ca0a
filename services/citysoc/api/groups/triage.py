"""Pure triage logic: the transition table and alert fingerprints (no I/O, no ``await``).

Transitions (anything else is refused):

    new          -> acknowledged | dismissed
    acknowledged -> escalated | dismissed
    dismissed    -> acknowledged          (reopen: the dismissal was wrong)

``escalated`` is final here: the group now belongs to an incident (incidents manage it from there).
Dismissing needs a reason (false positive, benign, duplicate); no other transition takes one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import orjson

from citysoc.core.alert import LEVELS, Alert
from citysoc.db.enums import DismissReason, GroupStatus

S = GroupStatus
TRANSITIONS: Mapping[GroupStatus, frozenset[GroupStatus]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.DISMISSED}),
    S.ACKNOWLEDGED: frozenset({S.ESCALATED, S.DISMISSED}),
    S.DISMISSED: frozenset({S.ACKNOWLEDGED}),
    S.ESCALATED: frozenset(),
}


class TransitionError(ValueError):
    pass


def check_transition(current: GroupStatus, to: GroupStatus, reason: DismissReason | None) -> None:
    """Raise ``TransitionError`` (with the reason in words) unless ``current -> to`` is allowed with
    ``reason``."""
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
        raise TransitionError(f"cannot go from {current.value} to {to.value} (allowed: {allowed})")
    if to == S.DISMISSED and reason is None:
        raise TransitionError("dismissing needs a reason: false_positive, benign or duplicate")
    if to != S.DISMISSED and reason is not None:
        raise TransitionError("only a dismissal takes a reason")


def level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def group_key(alert: Alert, fields: Sequence[str]) -> dict[str, str]:
    """Values of the configured key fields (``host``, ``kind``, or a matched field); absent: ``""``."""
    out: dict[str, str] = {}
    for f in fields:
        if f == "host":
            out[f] = alert.host
        elif f == "kind":
            out[f] = alert.kind
        else:
            out[f] = alert.matched_fields.get(f, "")
    return out


def fingerprint(alert: Alert, key: Mapping[str, str]) -> str:
    """SHA-256 of rule, agency, system and the key values: one alert group per value."""
    body = orjson.dumps([alert.rule_id, alert.agency, alert.system, dict(key)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()
