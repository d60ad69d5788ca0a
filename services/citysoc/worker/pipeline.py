"""The detection worker, composed in one visible function:
consume → decode → store events → match → store alerts → publish alerts → commit.

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
from typing import Any, Protocol

from citysoc.bus.base import Consumer, Message, Producer, Record, record_key
from citysoc.core import metrics
from citysoc.core.alert import Alert, alert_id_for_event
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.detection.engine import Hit
from citysoc.store.base import Store

log = logging.getLogger(__name__)


class Matcher(Protocol):
    def match(self, event: Event) -> list[Hit]: ...


@dataclass
class WorkerConfig:
    raw_topic: str
    dead_topic: str
    alerts_topic: str | None
    """Publish alerts here (Kafka mode, for case management); None to skip."""
    store_events: bool
    """Kafka mode: the worker stores events. Embedded: the collector already stored them."""
    batch_max: int = 1000
    poll_timeout_s: float = 0.2
    max_backoff_s: float = 10.0


@dataclass
class Batch:
    messages: list[Message]
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def decode(messages: Sequence[Message], cfg: WorkerConfig) -> Batch:
    batch = Batch(list(messages))
    for m in messages:
        try:
            if m.topic == cfg.dead_topic:
                batch.dead.append(DeadLetter.from_json(m.value))
            else:
                batch.events.append(Event.from_json(m.value))
        except (ValueError, KeyError, TypeError) as e:
            received = datetime.now(UTC)
            batch.dead.append(
                DeadLetter.make(
                    collector="worker",
                    connection=f"{m.topic}/{m.partition}",
                    sequence=m.offset,
                    received_at=datetime(1970, 1, 1, tzinfo=UTC),  # deterministic id across redeliveries
                    agency="",
                    source_ip="",
                    transport="replay",
                    reason="bad_envelope",
                    detail=f"undecodable message {m.topic}/{m.partition}@{m.offset}: {e} (seen {received})",
                    raw=m.value,
                )
            )
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
    return [alert_for(e, h, detected_at) for e in events for h in matcher.match(e)]


async def retry[T](op: str, max_backoff: float, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``fn(*args)`` until it succeeds, with backoff: the pipeline pauses, never drops or crashes."""
    backoff = 0.1
    while True:
        try:
            return await fn(*args)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            metrics.STORE_RETRIES.labels(op).inc()
            log.warning("%s failed (%s: %s); retrying in %.1fs", op, type(e).__name__, e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


async def _timed(stage: metrics.Stage, n: int, coro: Awaitable[Any]) -> None:
    t0 = time.perf_counter()
    await coro
    metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - t0)
    metrics.STAGE_ITEMS.labels(stage).inc(n)


async def process_batch(
    batch: Batch,
    *,
    cfg: WorkerConfig,
    store: Store,
    matcher: Matcher,
    producer: Producer | None,
) -> None:
    """Everything but the commit: store events and dead letters, match, store and publish alerts."""
    mb = cfg.max_backoff_s
    if cfg.store_events and batch.events:
        await _timed(
            "store_events",
            len(batch.events),
            retry("store_events", mb, asyncio.to_thread, store.insert_events, batch.events),
        )
    if batch.dead:
        await retry("store_dead", mb, asyncio.to_thread, store.insert_dead_letters, batch.dead)
    t0 = time.perf_counter()
    batch.alerts = detect(matcher, batch.events, datetime.now(UTC))
    metrics.STAGE_SECONDS.labels("match").observe(time.perf_counter() - t0)
    metrics.STAGE_ITEMS.labels("match").inc(len(batch.events))
    if batch.alerts:
        await _timed(
            "store_alerts",
            len(batch.alerts),
            retry("store_alerts", mb, asyncio.to_thread, store.insert_alerts, batch.alerts),
        )
        if producer is not None and cfg.alerts_topic:
            topic = cfg.alerts_topic
            records = [Record(record_key(a.agency, a.host), a.to_json()) for a in batch.alerts]
            await _timed(
                "publish", len(records), retry("publish_alerts", mb, producer.produce, topic, records)
            )
        for a in batch.alerts:
            metrics.ALERTS.labels(a.level).inc()


async def run_worker(
    consumer: Consumer,
    *,
    cfg: WorkerConfig,
    store: Store,
    matcher: Callable[[], Matcher],
    producer: Producer | None = None,
    after_commit: Callable[[Batch], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set (or cancelled). ``matcher()`` is read per batch so rules can be reloaded."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        t0 = time.perf_counter()
        messages = await consumer.poll(cfg.batch_max, cfg.poll_timeout_s)
        metrics.BUS_LAG.set(consumer.lag())
        if not messages:
            continue
        metrics.STAGE_SECONDS.labels("consume").observe(time.perf_counter() - t0)
        batch = decode(messages, cfg)
        await process_batch(batch, cfg=cfg, store=store, matcher=matcher(), producer=producer)
        await _timed("commit", len(messages), retry("commit", cfg.max_backoff_s, consumer.commit, messages))
        now = datetime.now(UTC)
        for e in batch.events:
            metrics.EVENT_LATENCY.observe(max(0.0, (now - e.received_at).total_seconds()))
        if after_commit is not None:
            await after_commit(batch)
