"""The worker pipeline on the in-process twins: commit only after the store acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from citysoc.bus.base import Record
from citysoc.bus.memory import MemoryBus
from citysoc.core.alert import Alert
from citysoc.core.config import BusSettings
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.detection.engine import Engine
from citysoc.store.base import StoreUnavailable
from citysoc.store.memory import MemoryStore
from citysoc.worker.pipeline import WorkerConfig, decode, process_batch, run_worker

REPO = Path(__file__).resolve().parents[2]
BUS = BusSettings(partitions=2)
RAW, DEAD = BUS.topic("events.raw"), BUS.topic("events.dead")


class OutageStore(MemoryStore):
    """The in-memory twin, refusing alert inserts while ``down`` is set (as a store outage would)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.refused = 0

    def insert_alerts(self, alerts: Sequence[Alert]) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("store is down")
        super().insert_alerts(alerts)


def ssh_event(i: int) -> Event:
    msg = f"Failed password for invalid user u{i} from 203.0.113.9 port 22 ssh2"
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return Event(
        stable_id("e", i),
        now,
        now,
        "a",
        "s",
        "h",
        "10.0.0.1",
        "tcp",
        "rfc3164",
        f"<38>Nov 23 10:00:00 h sshd[1]: {msg}".encode(),
        {"app_name": "sshd", "message": msg, "hostname": "h"},
        Logsource("linux", "sshd"),
    )


async def test_offsets_are_committed_only_after_alerts_are_stored() -> None:
    bus, store = MemoryBus(BUS), OutageStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    producer = bus.producer()
    await producer.start()
    n = 20
    await producer.produce(RAW, [Record(b"k%d" % i, ssh_event(i).to_json()) for i in range(n)])
    await producer.produce(RAW, [Record(b"bad", b"not an envelope")])
    consumer = bus.consumer("w", [RAW, DEAD])
    await consumer.start()
    cfg = WorkerConfig(
        raw_topic=RAW,
        dead_topic=DEAD,
        alerts_topic=BUS.topic("alerts"),
        store_events=True,
        poll_timeout_s=0.05,
        max_backoff_s=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(consumer, cfg=cfg, store=store, matcher=lambda: engine, producer=producer, stop=stop)
    )
    await asyncio.sleep(0.6)
    # Store down: the worker keeps retrying, stored the events (idempotent) but committed nothing.
    assert store.refused >= 2 and not task.done()
    assert [bus.committed("w", RAW, p) or 0 for p in range(2)] == [0, 0]  # nothing past the start
    assert store.counts().distinct_alerts == 0
    store.down = False
    for _ in range(100):
        if sum(bus.committed("w", RAW, p) or 0 for p in range(2)) == n + 1:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    c = store.counts()
    assert (c.distinct_events, c.distinct_alerts, c.dead_letters) == (n, n, 1)
    assert (
        store.dead_letters()[0].reason == "bad_envelope" and store.dead_letters()[0].raw == b"not an envelope"
    )
    # The alerts went to the alerts topic too, for case management.
    alerts_consumer = bus.consumer("cases", [BUS.topic("alerts")])
    await alerts_consumer.start()
    published = await alerts_consumer.poll(1000, 0.5)
    assert len({Alert.from_json(m.value).alert_id for m in published}) == n


async def test_redelivery_after_a_crash_duplicates_nothing() -> None:
    bus, store = MemoryBus(BUS), MemoryStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    producer = bus.producer()
    await producer.start()
    await producer.produce(RAW, [Record(b"k%d" % i, ssh_event(i).to_json()) for i in range(10)])
    cfg = WorkerConfig(
        raw_topic=RAW, dead_topic=DEAD, alerts_topic=None, store_events=True, poll_timeout_s=0.05
    )
    for _ in range(2):  # the second consumer sees everything again (nothing was committed by the first)
        consumer = bus.consumer("w", [RAW])
        await consumer.start()
        batch = await consumer.poll(100, 0.5)
        b = decode(batch, cfg)
        await process_batch(b, cfg=cfg, store=store, matcher=engine, producer=None)
        await consumer.stop()  # crash before commit
    c = store.counts()
    assert (c.distinct_events, c.distinct_alerts) == (10, 10)
