"""Stateful evaluation of compiled correlation rules on the event stream (pure, synchronous).

Window model (per correlation rule and group; a group = the rule's group-by values, as text,
compared exactly; a hit whose event lacks a group-by field feeds no group; windows are
closed intervals ``[start, start + timespan]`` in event time, integer microseconds, so an event exactly
``timespan`` after the start is inside and one microsecond later is not):

* **gt / gte** (monotone: adding events can only make them true) fire on the event that makes them
  true. The window slides: it starts at the earliest retained event of the group that is at most
  ``timespan`` before the new event (for an in-order event that window holds every event of the last
  ``timespan``; for a late event every window containing it is checked, earliest start first). The
  alert's window start is that earliest event's time. A window fires once: its events are consumed,
  later events up to ``start + timespan`` are absorbed (counted), and the next window starts with the
  first event after it. A steady attack therefore raises about one alert per ``timespan``.
* **lt / lte / eq / neq** (not monotone) are decided when a window closes. The window is anchored at
  the group's first event after the previous window; it closes when the watermark passes its end,
  in :meth:`CorrelationEngine.advance` or in ``observe``. A window only exists once an event of the
  group arrives, so "fewer than N" means "1..N-1 events" (zero-event groups are unknowable).
* Metric per type: event_count = events; value_count = distinct values of the condition field(s)
  (events without them do not contribute); temporal = distinct referenced rules matched (an event
  hitting two referenced rules counts for both); temporal_ordered = length of the longest prefix of
  the listed rules matched by distinct events in event-time order (ties in arrival order). temporal
  rules default to ``gte <number of rules>``.
* Alert ids: ``alert_id_for_window(rule_id, group pairs, window start)``; ``time`` is the event time
  of the completing event (gt/gte) or of the window's last event (others); ``event_ids`` the first
  :attr:`CorrelationLimits.max_event_ids` contributing events in event-time order; agency, system,
  host from that completing/last event; ``matched_fields`` the group-by values; ``extra`` holds
  count and window bounds.

Watermark and lateness: ``max_seen`` is the newest event time observed (or passed to ``advance``);
``watermark = max_seen - allowed_lateness``. An event older than the watermark is ignored (counted in
``stats.late_events``); out-of-order events within the lateness are placed by event time, so the
result does not depend on their arrival order as long as no window fired in between. State older
than ``watermark - timespan`` can never be part of a window with an accepted event and is expired.

Bounded memory: per rule at most ``max_groups_per_rule`` groups (the group with the oldest window
start is evicted first, without an alert; ``stats.evicted_groups``) and per group at most
``max_entries_per_group`` events (oldest dropped; ``stats.dropped_entries``; raised to ``count + 1``
for event_count rules so thresholds stay exact). Redelivered event ids within a group are ignored.

Restart: :meth:`CorrelationEngine.snapshot` / :meth:`restore` (versioned JSON, see there). Without a
snapshot the state is rebuilt honestly: it starts empty, windows that straddle the restart can miss
events they should have counted, and the worker logs that.

Determinism: the same inputs in the same order (and the same ``advance`` calls) give the same state
and the same alerts, with or without a snapshot/restore in between. Nothing here reads a clock or
does I/O; ``detected_at`` defaults to the alert's event time unless the caller passes one.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from citysoc.core.alert import Alert, alert_id_for_window
from citysoc.core.event import Event
from citysoc.detection.correlation import snapshot
from citysoc.detection.correlation.record import (
    CorrelationInput,
    GroupPairs,
    field_text,
    folded_fields,
    input_from_event,
    partition_key,
    pick_fields,
)
from citysoc.detection.correlation.rules import CorrelationRuleInfo
from citysoc.detection.correlation.snapshot import RestoreReport
from citysoc.detection.correlation.window import (
    DEFAULT_LIMITS,
    CorrelationLimits,
    Entry,
    Group,
    RuleState,
    from_us,
    to_us,
    window_metric,
)

if TYPE_CHECKING:  # the engine imports this package at load time; types only
    from citysoc.detection.engine import Engine, Hit


@dataclass
class CorrelationStats:
    """Monotone counters for the worker's metrics (process lifetime; not part of snapshots)."""

    evicted_groups: int = 0
    evicted_by_rule: dict[str, int] = field(default_factory=dict)
    dropped_entries: int = 0
    late_events: int = 0
    """Inputs older than the watermark: ignored for correlation."""
    absorbed: int = 0
    """Events inside a window that already fired or closed."""
    missing_group_field: int = 0
    """Hits whose event lacks a group-by field: they feed no group."""
    duplicates: int = 0
    unknown_rule: int = 0
    """Targeted inputs for a correlation rule this engine does not have (rules changed)."""


class CorrelationEngine:
    """The correlation state machines of one engine's correlation rules; see the module doc.

    Not thread-safe; one instance per consumer (per partition set in the scaled mode).
    """

    def __init__(
        self, rules: Sequence[CorrelationRuleInfo], limits: CorrelationLimits = DEFAULT_LIMITS
    ) -> None:
        self.limits = limits
        self.rules: tuple[CorrelationRuleInfo, ...] = tuple(rules)
        self.stats = CorrelationStats()
        self._states: dict[str, RuleState] = {r.rule_id: RuleState(r, limits) for r in self.rules}
        self._lateness = limits.allowed_lateness // timedelta(microseconds=1)
        # base rule id -> [(correlation rule id, index of the base rule in its references)]
        self._feeds: dict[str, list[tuple[str, int]]] = {}
        for r in self.rules:
            for i, base in enumerate(r.referenced_rule_ids):
                self._feeds.setdefault(base, []).append((r.rule_id, i))
        self._needed: dict[str, frozenset[str]] = {
            r.rule_id: frozenset(k for keys in (*r.group_fields, *r.value_fields) for k in keys)
            for r in self.rules
        }
        self._max_seen: int | None = None
        self._seq = 0

    @classmethod
    def from_engine(cls, engine: Engine, limits: CorrelationLimits = DEFAULT_LIMITS) -> CorrelationEngine:
        """State machines for the correlation rules ``engine`` loaded (``engine.correlations``)."""
        return cls(engine.correlations, limits)

    # ---------------------------------------------------------------------------------- queries

    def suppressed_base_rule_ids(self) -> frozenset[str]:
        """Base rules whose own hits should not become alerts.

        A base rule referenced by correlation rules is suppressed unless at least one of them says
        ``generate: true`` (then its standalone alerts go through; losing them would be the worse
        error). Rules no correlation references are never suppressed. The worker drops these hits
        after passing them to correlation, not before.
        """
        referenced: set[str] = set()
        generated: set[str] = set()
        for r in self.rules:
            referenced.update(r.referenced_rule_ids)
            if r.generate:
                generated.update(r.referenced_rule_ids)
        return frozenset(referenced - generated)

    @property
    def watermark(self) -> datetime | None:
        """``max_seen - allowed_lateness``: events older than this are ignored; None before any input."""
        return None if self._max_seen is None else from_us(self._max_seen - self._lateness)

    def group_count(self) -> int:
        return sum(len(s.groups) for s in self._states.values())

    # ---------------------------------------------------------------------------------- routing

    def input_for(self, event: Event, hits: Sequence[Hit]) -> CorrelationInput | None:
        """The compact record of ``event`` for every correlation rule its hits feed; None if none."""
        ids = [h.rule.rule_id for h in hits if h.rule.rule_id in self._feeds]
        if not ids:
            return None
        needed = frozenset(k for rid in self._fed_rules(ids) for k in self._needed[rid])
        return input_from_event(event, ids, needed)

    def inputs(self, event: Event, hits: Sequence[Hit]) -> list[tuple[bytes, CorrelationInput]]:
        """(partition key, record) per (correlation rule, group) the event feeds, for repartitioning.

        Each record names its rule (``correlation_id``) and carries only the hits that map to its
        group, so observing every record once - on whichever engine owns its key - adds exactly what
        ``observe(event, hits)`` adds on one engine. Events lacking a group-by field produce nothing.
        """
        full = self.input_for(event, hits)
        if full is None:
            return []
        folded = folded_fields(full.fields)
        out: list[tuple[bytes, CorrelationInput]] = []
        for rid in self._fed_rules(full.hits):
            state = self._states[rid]
            for key, indices, _ in self._groups_of(state.info, full, folded, count_missing=False):
                hit_ids = tuple(state.info.referenced_rule_ids[i] for i in indices)
                record = dataclasses.replace(
                    full, hits=hit_ids, fields=pick_fields(full.fields, self._needed[rid]), correlation_id=rid
                )
                out.append((partition_key(rid, key), record))
        return out

    def correlation_keys(self, event: Event, hits: Sequence[Hit]) -> list[tuple[str, bytes]]:
        """(correlation rule id, partition key) for each (rule, group) the event's hits feed."""
        return [(inp.correlation_id or "", key) for key, inp in self.inputs(event, hits)]

    def _fed_rules(self, hit_ids: Iterable[str]) -> list[str]:
        fed = {rid for h in hit_ids for rid, _ in self._feeds.get(h, ())}
        return [r.rule_id for r in self.rules if r.rule_id in fed]  # rule order: deterministic

    def _groups_of(
        self,
        info: CorrelationRuleInfo,
        inp: CorrelationInput,
        folded: Mapping[str, Any],
        *,
        count_missing: bool,
    ) -> list[tuple[GroupPairs, tuple[int, ...], str | None]]:
        """(group, referenced-rule indices hit, distinct value) for one rule; groups in first-seen order."""
        hit = set(inp.hits)
        found: dict[GroupPairs, tuple[list[int], list[str | None]]] = {}
        for i, base in enumerate(info.referenced_rule_ids):
            if base not in hit:
                continue
            values = [field_text(inp, folded, k) for k in info.group_fields[i]]
            if any(v is None for v in values):
                if count_missing:
                    self.stats.missing_group_field += 1
                continue
            key = tuple((name, v or "") for name, v in zip(info.group_by, values, strict=True))
            value: str | None = None
            if info.type == "value_count":
                parts = [field_text(inp, folded, k) for k in info.value_fields[i]]
                if all(p is not None for p in parts):
                    value = parts[0] if len(parts) == 1 else orjson.dumps(parts).decode()
            indices, vals = found.setdefault(key, ([], []))
            indices.append(i)
            vals.append(value)
        return [
            (key, tuple(ix), next((v for v in vals if v is not None), None))
            for key, (ix, vals) in found.items()
        ]

    # -------------------------------------------------------------------------------- observing

    def observe(self, event: Event, hits: Sequence[Hit], detected_at: datetime | None = None) -> list[Alert]:
        """Feed one event and the base-rule hits the Engine produced for it; the alerts that result.

        Events without a hit of a referenced rule change nothing (not even the watermark: use
        :meth:`advance`). Alerts can also be for other groups whose lt/lte/eq/neq windows closed.
        """
        inp = self.input_for(event, hits)
        return [] if inp is None else self.observe_input(inp, detected_at)

    def observe_input(self, inp: CorrelationInput, detected_at: datetime | None = None) -> list[Alert]:
        """Same semantics as :meth:`observe`, from a compact record (the partitioned path)."""
        t = to_us(inp.event_time)
        if self._max_seen is not None and t < self._max_seen - self._lateness:
            self.stats.late_events += 1
            return []
        if inp.correlation_id is not None and inp.correlation_id not in self._states:
            self.stats.unknown_rule += 1
            return []
        alerts = self._advance_to(t, detected_at)
        self._seq += 1
        folded = folded_fields(inp.fields)
        targets = [inp.correlation_id] if inp.correlation_id is not None else self._fed_rules(inp.hits)
        for rid in targets:
            state = self._states[rid]
            for key, indices, value in self._groups_of(state.info, inp, folded, count_missing=True):
                if state.info.type == "value_count" and value is None:
                    continue  # no value: contributes nothing to a distinct count
                entry = Entry(t, self._seq, inp.event_id, indices, value, inp.agency, inp.system, inp.host)
                alert = self._add(state, key, entry, detected_at)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def advance(self, now: datetime, detected_at: datetime | None = None) -> list[Alert]:
        """Move the event-time clock to ``now`` (never back): close due windows, expire old state.

        Call it with the newest event time the worker has seen (per batch), not the wall clock: a
        wall clock ahead of event times would make normally delayed events "late" and drop them.
        """
        return self._advance_to(to_us(now), detected_at)

    def _advance_to(self, t: int, detected_at: datetime | None) -> list[Alert]:
        if self._max_seen is not None and t <= self._max_seen:
            return []
        self._max_seen = t
        wm = t - self._lateness
        alerts: list[Alert] = []
        for state in self._states.values():
            # Every group whose window started before wm - span: its window can take no more events.
            while (popped := state.pop_oldest(wm - state.span)) is not None:
                key, g = popped
                if not state.info.eager:
                    while g.start is not None and g.start + state.span < wm:
                        alert = self._close(state, key, g, detected_at)
                        if alert is not None:
                            alerts.append(alert)
                cut = bisect.bisect_left(g.entries, wm - state.span, key=lambda e: e.t)
                if cut:
                    g.remove_prefix(cut)
                if g.closed_until is not None and g.closed_until < wm:
                    g.closed_until = None  # later arrivals before it are late anyway
                if not g.entries and g.start is None and g.closed_until is None:
                    del state.groups[key]
                else:
                    state.touch(key, g)
        return alerts

    def _add(self, state: RuleState, key: GroupPairs, e: Entry, detected_at: datetime | None) -> Alert | None:
        g = state.groups.get(key)
        if g is None:
            if len(state.groups) >= self.limits.max_groups_per_rule:
                self._evict(state)
            g = state.groups[key] = Group()
        if g.closed_until is not None and e.t <= g.closed_until:
            self.stats.absorbed += 1
            return None
        if e.event_id in g.ids:
            self.stats.duplicates += 1
            return None
        if not g.entries or g.entries[-1] < e:
            g.entries.append(e)
        else:
            bisect.insort(g.entries, e)
        g.ids.add(e.event_id)
        if not state.info.eager:
            g.start = e.t if g.start is None else min(g.start, e.t)
        if len(g.entries) > state.max_entries:
            old = g.entries[0]
            g.remove_prefix(1)
            self.stats.dropped_entries += 1
            if not state.info.eager and g.start is not None and old.t <= g.start + state.span:
                g.dropped += 1
        alert = self._fire_eager(state, key, g, e, detected_at) if state.info.eager else None
        state.touch(key, g)
        return alert

    def _evict(self, state: RuleState) -> None:
        state.evict_oldest()
        self._count_evictions(state.info.rule_id, 1)

    def _count_evictions(self, rule_id: str, n: int) -> None:
        self.stats.evicted_groups += n
        self.stats.evicted_by_rule[rule_id] = self.stats.evicted_by_rule.get(rule_id, 0) + n

    def _fire_eager(
        self, state: RuleState, key: GroupPairs, g: Group, e: Entry, detected_at: datetime | None
    ) -> Alert | None:
        entries, span = g.entries, state.span
        first = bisect.bisect_left(entries, e.t - span, key=lambda x: x.t)
        if entries[-1] is e:  # in order: the window ending at e holds everything since e.t - span
            candidates: Iterable[int] = (first,)
        else:  # late: every window [s, s + span] that contains e, earliest start first
            candidates = range(first, bisect.bisect_right(entries, e.t, key=lambda x: x.t))
        for i in candidates:
            start = entries[i].t
            end = bisect.bisect_right(entries, start + span, key=lambda x: x.t)
            window = entries[i:end]
            metric = window_metric(state.info, window)
            if state.info.holds(metric):
                alert = self._alert(state.info, key, start, window, e, metric, detected_at)
                g.closed_until = start + span
                g.remove_prefix(end)  # consumed; older leftovers could only re-alert the same burst
                return alert
        return None

    def _close(
        self, state: RuleState, key: GroupPairs, g: Group, detected_at: datetime | None
    ) -> Alert | None:
        assert g.start is not None
        start, end_t = g.start, g.start + state.span
        end = bisect.bisect_right(g.entries, end_t, key=lambda x: x.t)
        window = g.entries[:end]
        metric = window_metric(state.info, window) + (g.dropped if state.info.type == "event_count" else 0)
        alert = None
        if window and state.info.holds(metric):
            alert = self._alert(state.info, key, start, window, window[-1], metric, detected_at)
        g.remove_prefix(end)
        g.closed_until, g.dropped = end_t, 0
        g.start = g.entries[0].t if g.entries else None
        return alert

    def _alert(
        self,
        info: CorrelationRuleInfo,
        key: GroupPairs,
        start: int,
        window: Sequence[Entry],
        last: Entry,
        metric: int,
        detected_at: datetime | None,
    ) -> Alert:
        window_start, time = from_us(start), from_us(last.t)
        return Alert(
            alert_id=alert_id_for_window(info.rule_id, key, window_start),
            rule_id=info.rule_id,
            title=info.title,
            level=info.level,
            rule_status=info.status,
            tags=info.tags,
            agency=last.agency,
            system=last.system,
            host=last.host,
            event_ids=tuple(x.event_id for x in window[: self.limits.max_event_ids]),
            matched_fields=dict(key),
            time=time,
            detected_at=detected_at or time,
            kind="correlation",
            extra={
                "count": metric,
                "window_start": window_start.isoformat(),
                "window_end": from_us(start + info.timespan_s * 1_000_000).isoformat(),
            },
        )

    # --------------------------------------------------------------------------------- snapshot

    def snapshot(self) -> bytes:
        """The whole state as versioned JSON (:mod:`.snapshot` documents the format), for the worker to
        persist with its offset commits. Counters (``stats``) are not included."""
        return snapshot.encode(self._states, self._max_seen, self._seq)

    def restore(self, data: bytes) -> RestoreReport:
        """Replace the state with a :meth:`snapshot`; ``ValueError`` if it is not one (state untouched).

        State of rules that are gone, or whose semantics changed (fingerprint), is dropped and
        reported; the worker logs those as rebuilt from empty. Works across rule reloads:
        ``new.restore(old.snapshot())``.
        """
        states, max_seen, seq, report, evicted = snapshot.decode(data, self.rules, self.limits)
        self._states, self._max_seen, self._seq = states, max_seen, seq
        for rid, n in evicted.items():
            self._count_evictions(rid, n)
        return report
