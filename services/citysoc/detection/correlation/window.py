"""Per-rule window state: events kept per group, the oldest-window heap, and the window metrics.

Internal to :mod:`citysoc.detection.correlation`; the semantics are documented in
:mod:`citysoc.detection.correlation.state`. Times are integer microseconds since the epoch.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from citysoc.core.event import utc
from citysoc.detection.correlation.record import GroupPairs
from citysoc.detection.correlation.rules import CorrelationRuleInfo

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (floats would make window edges fuzzy)."""
    return (utc(dt) - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class CorrelationLimits:
    """Memory and lateness bounds of a :class:`~citysoc.detection.correlation.CorrelationEngine`."""

    max_groups_per_rule: int = 10_000
    """Groups kept per correlation rule; a new group beyond it evicts the oldest window (no alert)."""
    max_entries_per_group: int = 1_000
    """Events kept per group (oldest dropped); at least ``count + 1`` for event_count rules."""
    allowed_lateness: timedelta = timedelta(seconds=60)
    """How far behind the newest event time an event may arrive and still count."""
    max_event_ids: int = 100
    """Contributing event ids kept on an alert (the first ones, in event-time order)."""


DEFAULT_LIMITS: Final = CorrelationLimits()


class Entry(NamedTuple):
    t: int
    seq: int
    event_id: str
    rules: tuple[int, ...]
    """Indices (into the rule's referenced rules) of the hits this event brings."""
    value: str | None
    agency: str
    system: str
    host: str


class Group:
    __slots__ = ("anchor", "closed_until", "dropped", "entries", "ids", "start")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        """Sorted by (event time, arrival seq)."""
        self.ids: set[str] = set()
        self.closed_until: int | None = None
        """End of the last fired/closed window: arrivals at or before it are absorbed."""
        self.start: int | None = None
        """lt/lte/eq/neq: start of the anchored open window."""
        self.dropped = 0
        """lt/lte/eq/neq: events of the open window dropped over the entry cap (still counted)."""
        self.anchor: int | None = None
        """The key this group was last pushed to the heap with."""

    def remove_prefix(self, n: int) -> None:
        """Drop the ``n`` oldest events."""
        for old in self.entries[:n]:
            self.ids.discard(old.event_id)
        del self.entries[:n]


class RuleState:
    __slots__ = ("groups", "heap", "info", "max_entries", "span")

    def __init__(self, info: CorrelationRuleInfo, limits: CorrelationLimits) -> None:
        self.info = info
        self.span = info.timespan_s * 1_000_000
        self.groups: dict[GroupPairs, Group] = {}
        # (window start, group) min-heap with lazy invalidation: oldest window first for eviction and
        # expiry without scanning every group. Stale items are skipped when popped.
        self.heap: list[tuple[int, GroupPairs]] = []
        cap = limits.max_entries_per_group
        self.max_entries = max(cap, info.count + 1) if info.type == "event_count" else cap

    def anchor_of(self, g: Group) -> int | None:
        if not self.info.eager and g.start is not None:
            return g.start
        if g.entries:
            return g.entries[0].t
        if g.closed_until is not None:  # an empty fired window, kept to absorb its late events
            return g.closed_until - self.span
        return None

    def touch(self, key: GroupPairs, g: Group) -> None:
        anchor = self.anchor_of(g)
        if anchor != g.anchor:
            g.anchor = anchor
            if anchor is not None:
                heapq.heappush(self.heap, (anchor, key))
                if len(self.heap) > 2 * len(self.groups) + 64:
                    self.heap = [(a, k) for k, grp in self.groups.items() if (a := grp.anchor) is not None]
                    heapq.heapify(self.heap)

    def pop_oldest(self, before: int | None) -> tuple[GroupPairs, Group] | None:
        """The group with the oldest window (anchor < ``before`` when given), removed from the heap."""
        while self.heap:
            anchor, key = self.heap[0]
            if before is not None and anchor >= before:
                return None
            heapq.heappop(self.heap)
            g = self.groups.get(key)
            if g is not None and g.anchor == anchor:
                g.anchor = None
                return key, g
        return None

    def evict_oldest(self) -> None:
        """Drop the group with the oldest window (the cap is full; no alert for it)."""
        popped = self.pop_oldest(None)
        if popped is None:  # unreachable while the heap covers every group; keep the cap regardless
            popped = next(iter(self.groups.items()))
        del self.groups[popped[0]]


def window_metric(info: CorrelationRuleInfo, window: Sequence[Entry]) -> int:
    match info.type:
        case "event_count":
            return len(window)
        case "value_count":
            return len({e.value for e in window if e.value is not None})
        case "temporal":
            return len({i for e in window for i in e.rules})
        case "temporal_ordered":
            # Greedy earliest match is optimal for "is rules[0..k] a subsequence": one step per event.
            k, n = 0, len(info.referenced_rule_ids)
            for e in window:
                if k < n and k in e.rules:
                    k += 1
            return k
