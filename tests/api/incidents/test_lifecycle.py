"""The incident transition table, pair by pair (the allowed set is written out here, independently of
the code), its reason and closing rules, the timestamps, the statutory clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from citysoc.api.incidents.lifecycle import (
    TRANSITIONS,
    Facts,
    Times,
    TransitionError,
    check_transition,
    clock_state,
    needs_reason,
    report_due,
    stamp,
)
from citysoc.db.enums import Determination, IncidentStatus

S = IncidentStatus
ALLOWED = {
    ("new", "triage"),
    ("new", "dismissed"),
    ("triage", "in_progress"),
    ("triage", "dismissed"),
    ("in_progress", "containment"),
    ("in_progress", "resolved"),
    ("containment", "recovery"),
    ("containment", "resolved"),
    ("recovery", "resolved"),
    ("resolved", "closed"),
    ("resolved", "in_progress"),
    ("closed", "in_progress"),
    ("dismissed", "triage"),
}
WITH_REASON = {("resolved", "in_progress"), ("closed", "in_progress"), ("dismissed", "triage")} | {
    (s, "dismissed") for s in ("new", "triage")
}
READY = Facts(Determination.TRUE_POSITIVE, "what happened", 0)
PAIRS = list(itertools.product(S, S))


@pytest.mark.parametrize("current,to", PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_every_transition_pair(current: IncidentStatus, to: IncidentStatus) -> None:
    pair = (current.value, to.value)
    reason = "because" if pair in WITH_REASON or to == S.DISMISSED else None
    if pair in ALLOWED:
        check_transition(current, to, reason, READY)
        assert to in TRANSITIONS[current]
        assert needs_reason(current, to) == (pair in WITH_REASON)
    else:
        with pytest.raises(TransitionError, match="cannot go"):
            check_transition(current, to, reason, READY)


@pytest.mark.parametrize("pair", sorted(WITH_REASON))
def test_dismissing_and_reopening_need_a_reason(pair: tuple[str, str]) -> None:
    current, to = S(pair[0]), S(pair[1])
    for missing in (None, "   "):
        with pytest.raises(TransitionError, match="needs a reason"):
            check_transition(current, to, missing, READY)


@pytest.mark.parametrize("pair", sorted(ALLOWED - WITH_REASON))
def test_other_transitions_refuse_a_reason(pair: tuple[str, str]) -> None:
    with pytest.raises(TransitionError, match="only dismissing and reopening"):
        check_transition(S(pair[0]), S(pair[1]), "why not", READY)


@pytest.mark.parametrize(
    "facts,missing",
    [
        (Facts(None, "s", 0), ["a determination"]),
        (Facts(Determination.BENIGN_POSITIVE, None, 0), ["a summary"]),
        (Facts(Determination.BENIGN_POSITIVE, "  ", 0), ["a summary"]),
        (Facts(Determination.FALSE_POSITIVE, "s", 2), ["2 mandatory task(s)"]),
        (Facts(None, None, 1), ["a determination", "a summary", "1 mandatory task(s)"]),
    ],
)
def test_closing_needs_determination_summary_and_finished_mandatory_tasks(
    facts: Facts, missing: list[str]
) -> None:
    with pytest.raises(TransitionError) as e:
        check_transition(S.RESOLVED, S.CLOSED, None, facts)
    for m in missing:
        assert m in str(e.value)
    check_transition(S.RESOLVED, S.CLOSED, None, READY)


T = datetime(2026, 11, 1, tzinfo=UTC)
NONE = Times(None, None, None, None)


def test_stamps_follow_the_documented_rules() -> None:
    t1, t2, t3, t4, t5, t6 = (T + timedelta(hours=h) for h in range(1, 7))
    t = stamp(S.NEW, S.TRIAGE, t1, NONE)
    assert t == Times(t1, None, None, None)
    t = stamp(S.TRIAGE, S.IN_PROGRESS, t2, t)
    t = stamp(S.IN_PROGRESS, S.CONTAINMENT, t3, t)
    assert t.contained_at is None  # containment under way, not over
    t = stamp(S.CONTAINMENT, S.RECOVERY, t4, t)
    t = stamp(S.RECOVERY, S.RESOLVED, t5, t)
    assert t == Times(t1, t4, t5, None)
    t = stamp(S.RESOLVED, S.CLOSED, t6, t)
    assert t == Times(t1, t4, t5, t6)
    reopened = stamp(S.CLOSED, S.IN_PROGRESS, t6, t)
    assert reopened == Times(t1, t4, None, None)  # first acknowledgement and containment stay
    # Resolved without a containment phase: containment is over at resolution.
    assert stamp(S.IN_PROGRESS, S.RESOLVED, t2, Times(t1, None, None, None)).contained_at == t2
    # Dismissing a new incident acknowledges it.
    assert stamp(S.NEW, S.DISMISSED, t1, NONE).acknowledged_at == t1


def test_report_deadline_and_clock_states() -> None:
    assert report_due(T, False, 5) == T + timedelta(days=5)
    assert report_due(T, False, 0.5) == T + timedelta(hours=12)
    assert report_due(T, True, 5) == T  # beyond capability: immediately
    due = T + timedelta(days=5)
    assert clock_state(S.TRIAGE, due, None, due - timedelta(seconds=1)) == "due"
    assert clock_state(S.TRIAGE, due, None, due) == "overdue"
    assert clock_state(S.CLOSED, due, T, due + timedelta(days=9)) == "sent"
    assert clock_state(S.DISMISSED, due, None, due + timedelta(days=9)) == "not_required"
