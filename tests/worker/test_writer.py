"""The batching writer: flush by size or age, one insert per table, retry through an outage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from tests.worker.test_pipeline import REPO, ssh_event

from citysoc.bus.base import Record
from citysoc.bus.memory import MemoryBus
from citysoc.core.alert import Alert
from citysoc.core.config import BusSettings
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.detection.engine import Engine
from citysoc.store.base import StoreUnavailable
from citysoc.store.memory import MemoryStore
from citysoc.worker.pipeline import WorkerConfig, run_worker
from citysoc.worker.writer import BatchWriter, WriterLimits

BUS = BusSettings(partitions=2)
RAW, DEAD = BUS.topic("events.raw"), BUS.topic("events.dead")


class CountingStore(MemoryStore):
    """The in-memory twin, counting insert calls per table and refusing them while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, list[int]] = {"events": [], "alerts": [], "dead": []}
        self.down = False
        self.refused = 0

    def _gate(self, table: str, n: int) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("store is down")
        self.calls[table].append(n)

    def insert_events(self, events: Sequence[Event]) -> None:
        self._gate("events", len(events))
        super().insert_events(events)

    def insert_alerts(self, alerts: Sequence[Alert]) -> None:
        self._gate("alerts", len(alerts))
        super().insert_alerts(alerts)

    def insert_dead_letters(self, dead: Sequence[DeadLetter]) -> None:
        self._gate("dead", len(dead))
        super().insert_dead_letters(dead)


def plain_event(i: int) -> Event:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return Event(
        stable_id("w", i),
        now,
        now,
        "a",
        "s",
        "h",
        "10.0.0.1",
        "tcp",
        "rfc5424",
        b"x",
        {"message": "ok"},
        Logsource(),
    )


async def test_due_by_rows_or_by_age() -> None:
    store = CountingStore()
    store.migrate()
    w = BatchWriter(store, WriterLimits(max_rows=3, max_age_s=0.2))
    assert not w.due() and w.age_left() == 0.2
    w.add(events=[plain_event(0), plain_event(1)])
    assert not w.due()
    w.add(events=[plain_event(2)])
    assert w.due()  # by rows
    await w.flush()
    assert store.calls["events"] == [3] and w.rows == 0 and not w.due()
    w.add(events=[plain_event(3)])
    assert not w.due()
    await asyncio.sleep(0.25)
    assert w.due() and w.age_left() == 0.0  # by age


async def test_flush_retries_through_an_outage_and_writes_each_table_once() -> None:
    store = CountingStore()
    store.migrate()
    store.down = True
    w = BatchWriter(store, WriterLimits(max_backoff_s=0.05))
    w.add(events=[plain_event(i) for i in range(5)])
    w.add(events=[plain_event(i) for i in range(5, 10)])
    task = asyncio.create_task(w.flush())
    await asyncio.sleep(0.3)
    assert not task.done() and store.refused >= 3  # paused, retrying, not failed
    store.down = False
    await asyncio.wait_for(task, 2)
    assert store.calls["events"] == [10]  # both adds in one insert
    assert store.counts().distinct_events == 10


async def test_worker_coalesces_polls_into_few_inserts_and_commits_after_them() -> None:
    bus, store = MemoryBus(BUS), CountingStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    producer = bus.producer()
    await producer.start()
    consumer = bus.consumer("w", [RAW, DEAD])
    await consumer.start()
    cfg = WorkerConfig(
        raw_topic=RAW,
        dead_topic=DEAD,
        alerts_topic=None,
        store_events=True,
        batch_max=10,  # many small polls ...
        poll_timeout_s=0.05,
        max_backoff_s=0.05,
        flush_rows=100_000,
        flush_interval_s=0.3,  # ... coalesced into inserts by age
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(consumer, cfg=cfg, store=store, matcher=lambda: engine, stop=stop))
    n = 400
    for chunk in range(8):  # a steady stream: the bus never goes quiet for a whole poll timeout
        await producer.produce(
            RAW, [Record(b"k%d" % i, ssh_event(chunk * 50 + i).to_json()) for i in range(50)]
        )
        await asyncio.sleep(0.02)
    for _ in range(100):
        if sum(bus.committed("w", RAW, p) or 0 for p in range(2)) == n:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sum(store.calls["events"]) == n and store.counts().distinct_alerts == n
    assert len(store.calls["events"]) < n // cfg.batch_max, store.calls["events"]  # fewer inserts than polls
