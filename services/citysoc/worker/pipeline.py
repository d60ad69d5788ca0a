"""The detection worker, composed in one visible function:
consume → decode → store events → match → correlate → store alerts → publish alerts (and
correlation records) → commit.

Contract: offsets are committed only after every row of the batch (events when this worker stores
them, dead letters, alerts) is acknowledged by the store and the alerts by the bus. When the store is
unavailable the worker pauses and retries the same batch with backoff; it does not crash and does
not move on. A message that cannot be decoded is stored as a dead letter, never skipped silently.
``decode`` and ``detect`` are pure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from citysoc.bus.base import Consumer, Message, Producer, Record, record_key
from citysoc.core import metrics
from citysoc.core.alert import Alert, alert_id_for_event
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.detection.correlation import CorrelationRuleInfo
from citysoc.detection.engine import Hit
from citysoc.store.base import Store
from citysoc.worker.correlate import Correlator
from citysoc.worker.steps import retry, timed, undecodable
from citysoc.worker.writer import BatchWriter, WriterLimits

__all__ = ["Batch", "Matcher", "WorkerConfig", "decode", "detect", "process_batch", "retry", "run_worker"]

log = logging.getLogger(__name__)


class Matcher(Protocol):
    def match(self, event: Event) -> list[Hit]: ...

    @property
    def correlations(self) -> Sequence[CorrelationRuleInfo]:
        """Correlation rules over this matcher's rules (``Engine.correlations``)."""
        ...


@dataclass
class WorkerConfig:
    raw_topic: str
    dead_topic: str
    alerts_topic: str | None
    """Publish alerts here (Kafka mode, for case management); None to skip."""
    store_events: bool
    """Kafka mode: the worker stores events. Embedded: the collector already stored them."""
    correlation_topic: str | None = None
    """Scaled mode: publish correlation records here (keyed by rule and group) for the correlation
    stage. None: correlate locally in this worker (embedded, one process)."""
    batch_max: int = 1000
    poll_timeout_s: float = 0.2
    max_backoff_s: float = 10.0
    flush_rows: int = 20_000
    """Flush the writer (and commit) once this many rows or messages are buffered."""
    flush_interval_s: float = 0.5
    """... or once the oldest buffered row is this old."""


@dataclass
class Batch:
    messages: list[Message]
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    correlation: list[Record] = field(default_factory=list)


def decode(messages: Sequence[Message], cfg: WorkerConfig) -> Batch:
    batch = Batch(list(messages))
    for m in messages:
        try:
            if m.topic == cfg.dead_topic:
                batch.dead.append(DeadLetter.from_json(m.value))
            else:
                batch.events.append(Event.from_json(m.value))
        except (ValueError, KeyError, TypeError) as e:
            batch.dead.append(undecodable(m, e))
    return batch


def alert_for(event: Event, hit: Hit, detected_at: datetime) -> Alert:
    r = hit.rule
    return Alert(
        alert_id=alert_id_for_event(r.rule_id, event.event_id),
        rule_id=r.rule_id,
        title=r.title,
        level=r.level,
        rule_status=r.status,
        tags=tuple(r.tags),
        agency=event.agency,
        system=event.system,
        host=event.source_host,
        event_ids=(event.event_id,),
        matched_fields=dict(hit.matched_fields),
        time=event.event_time,
        detected_at=detected_at,
    )


def detect(matcher: Matcher, events: Sequence[Event], detected_at: datetime) -> list[Alert]:
    """One alert per (event, hit). Pure; correlation is not involved (recovery and tests use it)."""
    return [alert_for(e, h, detected_at) for e in events for h in matcher.match(e)]


def match_and_correlate(
    matcher: Matcher, correlator: Correlator, batch: Batch, detected_at: datetime, *, local: bool
) -> None:
    """Fill ``batch.alerts`` (and ``batch.correlation`` when not ``local``). Pure (no I/O).

    Hits of base rules that correlation rules suppress still feed correlation; they raise no alert
    of their own.
    """
    matched = [(e, matcher.match(e)) for e in batch.events]
    rules = matcher.correlations
    suppressed = correlator.suppressed(rules)
    batch.alerts = [
        alert_for(e, h, detected_at) for e, hits in matched for h in hits if h.rule.rule_id not in suppressed
    ]
    if local:
        batch.alerts.extend(correlator.local(rules, matched, detected_at))
    else:
        batch.correlation = correlator.records(rules, matched)


async def store_alerts(
    alerts: Sequence[Alert], *, store: Store, producer: Producer | None, topic: str | None, max_backoff: float
) -> None:
    """Store alerts, then publish them (when a topic is given); returns once both are acknowledged."""
    writer = BatchWriter(store, WriterLimits(max_backoff_s=max_backoff))
    writer.add(alerts=alerts)
    await writer.flush()
    await publish_alerts(alerts, producer=producer, topic=topic, max_backoff=max_backoff)


async def publish_alerts(
    alerts: Sequence[Alert], *, producer: Producer | None, topic: str | None, max_backoff: float
) -> None:
    """Publish stored alerts to ``topic`` (skipped without a producer or topic) and count them."""
    if alerts and producer is not None and topic:
        records = [Record(record_key(a.agency, a.host), a.to_json()) for a in alerts]
        await timed(
            "publish", len(records), retry("publish_alerts", max_backoff, producer.produce, topic, records)
        )
    for a in alerts:
        metrics.ALERTS.labels(a.level).inc()


def evaluate(batch: Batch, *, cfg: WorkerConfig, matcher: Matcher, correlator: Correlator) -> None:
    """Match and correlate one decoded batch (fills ``batch.alerts`` / ``batch.correlation``)."""
    t0 = time.perf_counter()
    local = cfg.correlation_topic is None
    match_and_correlate(matcher, correlator, batch, datetime.now(UTC), local=local)
    metrics.STAGE_SECONDS.labels("match").observe(time.perf_counter() - t0)
    metrics.STAGE_ITEMS.labels("match").inc(len(batch.events))


def buffer(writer: BatchWriter, batch: Batch, cfg: WorkerConfig) -> None:
    writer.add(events=batch.events if cfg.store_events else (), dead=batch.dead, alerts=batch.alerts)


async def publish(batch: Batch, *, cfg: WorkerConfig, producer: Producer | None) -> None:
    """Publish the stored alerts (when an alerts topic is set) and the correlation records."""
    mb = cfg.max_backoff_s
    await publish_alerts(batch.alerts, producer=producer, topic=cfg.alerts_topic, max_backoff=mb)
    if batch.correlation:
        if producer is None or cfg.correlation_topic is None:
            raise RuntimeError("correlation records need a producer and a correlation topic")
        topic, records = cfg.correlation_topic, batch.correlation
        await timed(
            "publish", len(records), retry("publish_correlation", mb, producer.produce, topic, records)
        )


async def process_batch(
    batch: Batch,
    *,
    cfg: WorkerConfig,
    store: Store,
    matcher: Matcher,
    producer: Producer | None,
    correlator: Correlator | None = None,
) -> None:
    """One batch, everything but the commit: match and correlate, store its rows (one flush), then
    publish alerts and correlation records."""
    writer = BatchWriter(store, WriterLimits(max_backoff_s=cfg.max_backoff_s))
    evaluate(batch, cfg=cfg, matcher=matcher, correlator=correlator or Correlator())
    buffer(writer, batch, cfg)
    await writer.flush()
    await publish(batch, cfg=cfg, producer=producer)


def merge(batches: Sequence[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    out = Batch([])
    for b in batches:
        out.messages += b.messages
        out.events += b.events
        out.dead += b.dead
        out.alerts += b.alerts
        out.correlation += b.correlation
    return out


async def run_worker(
    consumer: Consumer,
    *,
    cfg: WorkerConfig,
    store: Store,
    matcher: Callable[[], Matcher],
    producer: Producer | None = None,
    after_commit: Callable[[Batch], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
    correlator: Correlator | None = None,
    before_commit: Callable[[Batch], Awaitable[None]] | None = None,
) -> None:
    """Run until ``stop`` is set (or cancelled). ``matcher()`` is read per poll so rules can be reloaded.

    Polled batches are evaluated at once and their rows buffered in one :class:`BatchWriter`; when it
    is due (``flush_rows`` rows or messages, ``flush_interval_s`` age) or the bus goes quiet, the
    rows are flushed, alerts and correlation records published, and only then are the offsets of
    every buffered message committed. ``before_commit`` runs after the flush and before the commit
    (the embedded worker saves its correlation state there); ``after_commit`` after the commit.
    """
    stop = stop or asyncio.Event()
    correlator = correlator or Correlator()
    writer = BatchWriter(store, WriterLimits(cfg.flush_rows, cfg.flush_interval_s, cfg.max_backoff_s))
    pending: list[Batch] = []
    pending_messages = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        timeout = min(cfg.poll_timeout_s, writer.age_left()) if pending else cfg.poll_timeout_s
        messages = await consumer.poll(cfg.batch_max, timeout)
        metrics.BUS_LAG.set(consumer.lag())
        if messages:
            metrics.STAGE_SECONDS.labels("consume").observe(time.perf_counter() - t0)
            batch = decode(messages, cfg)
            evaluate(batch, cfg=cfg, matcher=matcher(), correlator=correlator)
            buffer(writer, batch, cfg)
            pending.append(batch)
            pending_messages += len(messages)
        if pending and (not messages or writer.due() or pending_messages >= cfg.flush_rows):
            await _complete(merge(pending), consumer, writer, cfg, producer, before_commit, after_commit)
            pending, pending_messages = [], 0
    if pending:  # stopping: finish what was evaluated rather than make the next owner redo it
        await _complete(merge(pending), consumer, writer, cfg, producer, before_commit, after_commit)


async def _complete(
    batch: Batch,
    consumer: Consumer,
    writer: BatchWriter,
    cfg: WorkerConfig,
    producer: Producer | None,
    before_commit: Callable[[Batch], Awaitable[None]] | None,
    after_commit: Callable[[Batch], Awaitable[None]] | None,
) -> None:
    """flush → publish → (before_commit) → commit → (after_commit)."""
    await writer.flush()
    await publish(batch, cfg=cfg, producer=producer)
    if before_commit is not None:
        await before_commit(batch)
    messages = batch.messages
    await timed("commit", len(messages), retry("commit", cfg.max_backoff_s, consumer.commit, messages))
    now = datetime.now(UTC)
    for e in batch.events:
        metrics.EVENT_LATENCY.observe(max(0.0, (now - e.received_at).total_seconds()))
    if after_commit is not None:
        await after_commit(batch)
