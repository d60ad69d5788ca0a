"""Correlation rules in the worker: one semantics, two placements.

* **Local** (embedded, one process): :meth:`Correlator.local` feeds every (event, hits) of a batch to
  one :class:`CorrelationEngine` and returns its alerts. Its state is saved in the store under
  :data:`LOCAL_STATE` with the detection watermark, and restored at start.
* **Repartitioned** (scaled, several workers in one consumer group): a worker owns only some raw
  partitions, so one (rule, group)'s events may reach different workers. :meth:`Correlator.records`
  turns the batch into :class:`CorrelationInput` records keyed by (rule, group); the detection worker
  publishes them to ``citysoc.correlation`` and :func:`run_correlation` consumes that topic in its own
  consumer group, with one engine per partition: every group lands on exactly one engine, as in a
  stream processor's repartition step.

Exactly-once state over at-least-once delivery: each partition's state is saved with the offset after
the last record it includes (``correlation/<group>/<topic>/<partition>``; the highest offset wins)
*before* the offsets are committed. A restarted or newly assigned owner restores that state and skips
the records below its offset, so no record is counted twice and none is lost. Alert ids are
deterministic (rule, group, window start), so an alert raised again after a crash is the same row.

A rule reload rebuilds the engines with the new correlation rules and carries their state over
(``restore(old.snapshot())``; state of changed or removed rules starts empty and is logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from citysoc.bus.base import Consumer, Record
from citysoc.core import metrics
from citysoc.core.alert import Alert
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.detection.correlation import CorrelationEngine, CorrelationInput, CorrelationRuleInfo
from citysoc.detection.correlation.record import correlation_time
from citysoc.detection.correlation.state import CorrelationStats
from citysoc.detection.engine import Hit
from citysoc.store.base import StageState, Store
from citysoc.worker.steps import retry, timed, undecodable

log = logging.getLogger(__name__)

LOCAL_STATE = "correlation/local"

type Matched = Sequence[tuple[Event, Sequence[Hit]]]


def _rebuild(
    old: CorrelationEngine | None, rules: Sequence[CorrelationRuleInfo], what: str
) -> CorrelationEngine:
    new = CorrelationEngine(rules)
    if old is not None and old.rules:
        report = new.restore(old.snapshot())
        if report.dropped:
            log.warning(
                "%s: correlation state of changed or removed rules starts empty: %s", what, report.dropped
            )
    return new


class _StatsExport:
    """Turns the engines' monotone counters into increments of the Prometheus counters."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def export(self, engines: Sequence[CorrelationEngine], known_stats: Sequence[CorrelationStats]) -> None:
        totals = {
            "late": sum(s.late_events for s in known_stats),
            "evicted_group": sum(s.evicted_groups for s in known_stats),
            "dropped_entry": sum(s.dropped_entries for s in known_stats),
            "missing_group_field": sum(s.missing_group_field for s in known_stats),
            "unknown_rule": sum(s.unknown_rule for s in known_stats),
        }
        for reason, total in totals.items():
            delta = total - self._seen.get(reason, 0)
            if delta > 0:
                metrics.CORRELATION_DROPS.labels(reason).inc(delta)
            self._seen[reason] = max(total, self._seen.get(reason, 0))
        metrics.CORRELATION_GROUPS.set(sum(e.group_count() for e in engines))


class Correlator:
    """The detection worker's correlation step (see the module doc). Not thread-safe."""

    def __init__(self) -> None:
        self._engine: CorrelationEngine | None = None
        self._rules: Sequence[CorrelationRuleInfo] | None = None
        self._stats = _StatsExport()
        self._retired: list[CorrelationStats] = []  # stats of engines replaced by a reload

    def engine(self, rules: Sequence[CorrelationRuleInfo]) -> CorrelationEngine:
        """The engine for ``rules`` (the current rule set's); rebuilt, state kept, when they changed."""
        if self._engine is None or rules is not self._rules:
            if self._engine is not None:
                self._retired.append(self._engine.stats)
            self._engine = _rebuild(self._engine, rules, "reload")
            self._rules = rules
        return self._engine

    def suppressed(self, rules: Sequence[CorrelationRuleInfo]) -> frozenset[str]:
        """Base rules whose own hits do not become alerts (see ``suppressed_base_rule_ids``)."""
        return self.engine(rules).suppressed_base_rule_ids() if rules else frozenset()

    def local(
        self, rules: Sequence[CorrelationRuleInfo], matched: Matched, detected_at: datetime
    ) -> list[Alert]:
        """Observe the batch on the one local engine, then advance to its newest event time."""
        if not rules:
            return []
        engine = self.engine(rules)
        alerts: list[Alert] = []
        newest: datetime | None = None
        for event, hits in matched:
            if hits:
                alerts.extend(engine.observe(event, hits, detected_at))
            t = correlation_time(event)
            if newest is None or t > newest:
                newest = t
        if newest is not None:
            alerts.extend(engine.advance(newest, detected_at))
        self._stats.export([engine], [*self._retired, engine.stats])
        return alerts

    def records(self, rules: Sequence[CorrelationRuleInfo], matched: Matched) -> list[Record]:
        """The batch's correlation records, keyed by (rule, group), for the correlation topic."""
        if not rules:
            return []
        engine = self.engine(rules)
        return [
            Record(key, inp.to_json())
            for event, hits in matched
            if hits
            for key, inp in engine.inputs(event, hits)
        ]

    def snapshot(self) -> str | None:
        return None if self._engine is None or not self._engine.rules else self._engine.snapshot().decode()

    def restore(self, rules: Sequence[CorrelationRuleInfo], state: StageState | None) -> None:
        """Start from a saved local state (logged when it cannot be used: then it starts empty)."""
        engine = self.engine(rules)
        if state is None:
            return
        try:
            report = engine.restore(state.data.encode())
        except ValueError as e:
            log.error("correlation state %s unusable, starting empty: %s", state.name, e)
            return
        log.info(
            "correlation state restored: %d rules (%d rebuilt empty)",
            len(report.restored),
            len(report.dropped),
        )


# ------------------------------------------------------------------------------ the scaled stage


@dataclass
class CorrelationConfig:
    topic: str
    group: str
    alerts_topic: str | None
    batch_max: int = 1000
    poll_timeout_s: float = 0.2
    max_backoff_s: float = 10.0


@dataclass
class _Slot:
    engine: CorrelationEngine
    rules: Sequence[CorrelationRuleInfo]
    position: int
    """Offset after the last record the state includes; records below it are skipped."""
    dirty: bool = False


@dataclass
class _Partitions:
    """The engines of the partitions this member owns (loaded from the store when assigned)."""

    cfg: CorrelationConfig
    slots: dict[tuple[str, int], _Slot] = field(default_factory=dict)
    retired: list[CorrelationStats] = field(default_factory=list)

    def name(self, tp: tuple[str, int]) -> str:
        return f"correlation/{self.cfg.group}/{tp[0]}/{tp[1]}"


async def run_correlation(
    consumer: Consumer,
    *,
    cfg: CorrelationConfig,
    store: Store,
    rules: Callable[[], Sequence[CorrelationRuleInfo]],
    emit: Callable[[list[Alert]], Awaitable[None]],
    stop: asyncio.Event | None = None,
) -> None:
    """consume → (restore) → observe → advance → emit alerts → save state → commit, until ``stop``.

    ``emit`` stores (and publishes) alerts and returns once they are acknowledged.
    ``rules()`` is read per batch. Store calls are retried with backoff until they succeed.
    """
    stop = stop or asyncio.Event()
    parts = _Partitions(cfg)
    stats = _StatsExport()
    while not stop.is_set():
        messages = await consumer.poll(cfg.batch_max, cfg.poll_timeout_s)
        current = rules()
        await _sync_assignment(consumer, parts, store, current, cfg.max_backoff_s)
        if not messages:
            continue
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        alerts: list[Alert] = []
        dead: list[DeadLetter] = []
        newest: datetime | None = None
        for m in messages:
            tp = (m.topic, m.partition)
            slot = parts.slots.get(tp) or await _load(parts, tp, store, current, cfg.max_backoff_s)
            if m.offset < slot.position:
                continue  # already part of the restored state
            try:
                inp = CorrelationInput.from_json(m.value)
            except (ValueError, KeyError, TypeError) as e:
                dead.append(undecodable(m, e))
            else:
                alerts.extend(slot.engine.observe_input(inp, now))
                newest = inp.event_time if newest is None or inp.event_time > newest else newest
            slot.position, slot.dirty = m.offset + 1, True
        if newest is not None:  # event time moves for every owned group, quiet partitions included
            for slot in parts.slots.values():
                if slot.engine.watermark is None or slot.engine.watermark < newest:
                    got = slot.engine.advance(newest, now)
                    alerts.extend(got)
                    slot.dirty = slot.dirty or bool(got) or slot.engine.group_count() > 0
        metrics.STAGE_SECONDS.labels("correlate").observe(time.perf_counter() - t0)
        metrics.STAGE_ITEMS.labels("correlate").inc(len(messages))
        if dead:
            await retry("store_dead", cfg.max_backoff_s, asyncio.to_thread, store.insert_dead_letters, dead)
        if alerts:
            await emit(alerts)
        states = [
            StageState(parts.name(tp), s.position, s.engine.snapshot().decode())
            for tp, s in parts.slots.items()
            if s.dirty
        ]
        if states:
            await timed(
                "store_state",
                len(states),
                retry("store_state", cfg.max_backoff_s, asyncio.to_thread, store.save_states, states),
            )
            for s in parts.slots.values():
                s.dirty = False
        await retry("commit", cfg.max_backoff_s, consumer.commit, messages)
        stats.export(
            [s.engine for s in parts.slots.values()],
            [*parts.retired, *(s.engine.stats for s in parts.slots.values())],
        )


async def _load(
    parts: _Partitions,
    tp: tuple[str, int],
    store: Store,
    rules: Sequence[CorrelationRuleInfo],
    backoff: float,
) -> _Slot:
    name = parts.name(tp)
    saved = await retry("load_state", backoff, asyncio.to_thread, store.load_state, name)
    engine = CorrelationEngine(rules)
    position = 0
    if isinstance(saved, StageState):
        try:
            report = engine.restore(saved.data.encode())
            position = saved.position
            log.info(
                "%s: state restored at offset %d (%d rules rebuilt empty)",
                name,
                position,
                len(report.dropped),
            )
        except ValueError as e:
            log.error("%s: saved state unusable, rebuilding from offset 0 of what is retained: %s", name, e)
    slot = parts.slots[tp] = _Slot(engine, rules, position)
    return slot


async def _sync_assignment(
    consumer: Consumer,
    parts: _Partitions,
    store: Store,
    rules: Sequence[CorrelationRuleInfo],
    backoff: float,
) -> None:
    """Drop the engines of partitions lost to a rebalance (their new owner restores them from the
    store), load those newly assigned, and carry state over a rule reload."""
    owned = {tp for tp in consumer.assignment() if tp[0] == parts.cfg.topic}
    for tp in [tp for tp in parts.slots if tp not in owned]:
        parts.retired.append(parts.slots.pop(tp).engine.stats)
    for tp in owned - parts.slots.keys():
        await _load(parts, tp, store, rules, backoff)
    for tp, slot in parts.slots.items():
        if slot.rules is not rules:
            parts.retired.append(slot.engine.stats)
            slot.engine, slot.rules = _rebuild(slot.engine, rules, parts.name(tp)), rules
