"""Per-rule cost and hit counts, filled by ``Engine.match_profiled`` (for ``citysoc detect --profile``).

Contract: :class:`Profiler` only accumulates what it is given (no clock of its own). ``rows()`` gives
one row per rule that was evaluated at least once, the most expensive first (ties by rule id, so the
order is stable); ``summary()`` the totals: events, candidate evaluations, the prefilter time (routing,
key lookups and the literal scan, everything before the first rule is evaluated) and, apart, the time
spent building routes (once per kind of event: rule specialisation and scanner compilation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citysoc.detection.engine import RuleInfo


@dataclass(slots=True)
class RuleCost:
    rule_id: str
    title: str
    seconds: float = 0.0
    """Total time spent evaluating the rule's condition (its candidates only)."""
    evaluations: int = 0
    """Events on which the rule was a candidate and was evaluated."""
    hits: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "seconds": round(self.seconds, 6),
            "evaluations": self.evaluations,
            "hits": self.hits,
        }


class Profiler:
    """Accumulates per-rule evaluation cost and hits over many events."""

    __slots__ = ("_rules", "candidates", "events", "prefilter_seconds", "route_build_seconds", "routes_built")

    def __init__(self) -> None:
        self._rules: dict[str, RuleCost] = {}
        self.events = 0
        self.candidates = 0
        self.prefilter_seconds = 0.0
        self.routes_built = 0
        self.route_build_seconds = 0.0

    def add_route_build(self, seconds: float) -> None:
        self.routes_built += 1
        self.route_build_seconds += seconds

    def add_event(self, prefilter_seconds: float, candidates: int) -> None:
        self.events += 1
        self.candidates += candidates
        self.prefilter_seconds += prefilter_seconds

    def add_rule(self, rule: RuleInfo, seconds: float, hit: bool) -> None:
        row = self._rules.get(rule.rule_id)
        if row is None:
            row = self._rules[rule.rule_id] = RuleCost(rule.rule_id, rule.title)
        row.seconds += seconds
        row.evaluations += 1
        row.hits += hit

    def rows(self) -> list[RuleCost]:
        return sorted(self._rules.values(), key=lambda r: (-r.seconds, r.rule_id))

    def summary(self) -> dict[str, Any]:
        rule_seconds = sum(r.seconds for r in self._rules.values())
        return {
            "events": self.events,
            "candidates_per_event": self.candidates / self.events if self.events else 0.0,
            "prefilter_seconds": round(self.prefilter_seconds, 6),
            "rule_seconds": round(rule_seconds, 6),
            "routes_built": self.routes_built,
            "route_build_seconds": round(self.route_build_seconds, 6),
            "hits": sum(r.hits for r in self._rules.values()),
        }
