"""Correlation in the worker: repartitioning across two workers, state across restarts, suppression.

The project's correlation rule (detections/linux/correlation_sshd_bruteforce.yml) fires on ten or
more SSH failures from one source address against one agency within five minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citysoc.bus.base import Consumer, Record, record_key
from citysoc.bus.memory import MemoryBus
from citysoc.core.alert import Alert
from citysoc.core.config import BusSettings
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.detection.engine import Engine
from citysoc.store.base import AlertQuery, StageState
from citysoc.store.memory import MemoryStore
from citysoc.worker.correlate import LOCAL_STATE, CorrelationConfig, Correlator, run_correlation
from citysoc.worker.pipeline import Batch, WorkerConfig, match_and_correlate, run_worker, store_alerts

REPO = Path(__file__).resolve().parents[2]
BUS = BusSettings(partitions=4)
RAW, DEAD, ALERTS, CORR = (BUS.topic(t) for t in ("events.raw", "events.dead", "alerts", "correlation"))
BRUTE = "5b0e8a51-3c55-4f0e-9d3f-6a0c2b7e41d9"
BASE = "506331c0-4397-4d59-82c3-30ecea500097"
T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def failure(
    i: int, host: str, src: str = "203.0.113.7", agency: str = "hcm-dost", at: datetime | None = None
) -> Event:
    msg = f"Failed password for invalid user u{i} from {src} port {40000 + i} ssh2"
    # One a second: well within the allowed lateness (60 s), so workers interleaving hosts' events on
    # the correlation topic cannot make any of them late.
    t = at or T0 + timedelta(seconds=i)
    return Event(
        stable_id("corr-test", agency, host, i),
        t,
        t,
        agency,
        "web",
        host,
        "10.0.0.1",
        "tcp",
        "rfc3164",
        f"<38>Nov 23 10:00:00 {host} sshd[1]: {msg}".encode(),
        {"app_name": "sshd", "message": msg, "hostname": host, "src_ip": src, "outcome": "failure"},
        Logsource("linux", "sshd"),
    )


def cfg(correlation: bool) -> WorkerConfig:
    return WorkerConfig(
        raw_topic=RAW,
        dead_topic=DEAD,
        alerts_topic=ALERTS,
        store_events=True,
        poll_timeout_s=0.05,
        max_backoff_s=0.1,
        correlation_topic=CORR if correlation else None,
    )


def corr_cfg() -> CorrelationConfig:
    return CorrelationConfig(
        topic=CORR, group="w-correlation", alerts_topic=ALERTS, poll_timeout_s=0.05, max_backoff_s=0.1
    )


def correlation_alerts(store: MemoryStore, rule_id: str = BRUTE) -> list[Alert]:
    return store.query_alerts(AlertQuery(rule_id=rule_id, limit=1000))


def saved_states(store: MemoryStore) -> list[StageState]:
    names = (f"correlation/w-correlation/{CORR}/{p}" for p in range(BUS.partitions))
    return [s for n in names if (s := store.load_state(n)) is not None]


async def until(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def committed(bus: MemoryBus, group: str, topic: str) -> int:
    return sum(bus.committed(group, topic, p) or 0 for p in range(BUS.partitions))


async def produce(bus: MemoryBus, events: Sequence[Event]) -> None:
    producer = bus.producer()
    await producer.start()
    await producer.produce(RAW, [Record(record_key(e.agency, e.source_host), e.to_json()) for e in events])


class Stage:
    """One worker process: a detection worker and (scaled) a correlation stage, sharing the store."""

    def __init__(self, bus: MemoryBus, store: MemoryStore, engine: Engine, *, scaled: bool) -> None:
        self.bus, self.store, self.engine, self.scaled = bus, store, engine, scaled
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.consumers: list[Consumer] = []

    async def start(self) -> None:
        producer = self.bus.producer()
        await producer.start()
        consumer = self.bus.consumer("w", [RAW, DEAD])
        await consumer.start()
        self.consumers.append(consumer)
        self.tasks.append(
            asyncio.create_task(
                run_worker(
                    consumer,
                    cfg=cfg(self.scaled),
                    store=self.store,
                    matcher=lambda: self.engine,
                    producer=producer,
                    stop=self.stop,
                )
            )
        )
        if self.scaled:
            corr = self.bus.consumer("w-correlation", [CORR])
            await corr.start()
            self.consumers.append(corr)

            async def emit(alerts: list[Alert]) -> None:
                await store_alerts(alerts, store=self.store, producer=producer, topic=ALERTS, max_backoff=0.1)

            self.tasks.append(
                asyncio.create_task(
                    run_correlation(
                        corr,
                        cfg=corr_cfg(),
                        store=self.store,
                        rules=lambda: self.engine.correlations,
                        emit=emit,
                        stop=self.stop,
                    )
                )
            )

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)
        for c in self.consumers:
            await c.stop()


async def run_two_workers(events: Sequence[Event], *, scaled: bool) -> MemoryStore:
    bus, store = MemoryBus(BUS), MemoryStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    workers = [Stage(bus, store, engine, scaled=scaled) for _ in range(2)]
    for w in workers:
        await w.start()
    await produce(bus, events)
    await until(lambda: committed(bus, "w", RAW) == len(events))
    if scaled:
        await until(lambda: committed(bus, "w-correlation", CORR) == len(events))
    for w in workers:
        await w.close()
    return store


async def test_two_workers_correlate_one_group_spread_over_both() -> None:
    # Twelve failures from one address against twelve hosts of one agency: the raw topic is keyed by
    # (agency, host), so the two workers of the group each see only some of them.
    events = [failure(i, f"web{i:02d}") for i in range(12)]
    local = await run_two_workers(events, scaled=False)
    assert correlation_alerts(local) == [], "control: each worker alone sees fewer than ten"

    store = await run_two_workers(events, scaled=True)
    [alert] = correlation_alerts(store)
    assert alert.kind == "correlation" and alert.extra["count"] == 10
    assert alert.matched_fields == {"agency": "hcm-dost", "src_ip": "203.0.113.7"}
    # The two workers interleave on the correlation topic: the ten counted are whichever came first.
    assert len(set(alert.event_ids)) == 10 and set(alert.event_ids) <= {e.event_id for e in events}
    assert alert.time in {e.event_time for e in events}
    # generate: true keeps the base rule's own alerts, one per event.
    assert len(correlation_alerts(store, BASE)) == 12


async def test_groups_are_separate_and_events_outside_the_window_do_not_count() -> None:
    slow = [failure(i, "web01", src="198.51.100.1", at=T0 + timedelta(minutes=i)) for i in range(12)]
    other_agency = [failure(i, f"h{i}", agency="hn-dost") for i in range(5)]
    burst = [failure(100 + i, f"h{i}") for i in range(5)]  # five in hcm-dost + five in hn-dost: two groups
    store = await run_two_workers([*slow, *other_agency, *burst], scaled=True)
    assert correlation_alerts(store) == []  # one a minute never makes ten in five minutes


async def test_correlation_state_survives_a_worker_restart() -> None:
    bus, store = MemoryBus(BUS), MemoryStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    events = [failure(i, f"web{i % 3}") for i in range(12)]
    first = Stage(bus, store, engine, scaled=True)
    await first.start()
    await produce(bus, events[:6])
    await until(lambda: committed(bus, "w-correlation", CORR) == 6)
    await first.close()
    assert correlation_alerts(store) == []
    assert [s.position for s in saved_states(store)] == [6], "one partition holds the group, saved at 6"

    again = Stage(bus, store, Engine.load([REPO / "detections"]), scaled=True)  # a new process
    await again.start()
    await produce(bus, events[6:])
    await until(lambda: committed(bus, "w-correlation", CORR) == 12)
    await again.close()
    [alert] = correlation_alerts(store)
    assert alert.extra["count"] == 10
    # The six counted before the restart are in; four of the six after it (host order may interleave).
    ids = set(alert.event_ids)
    assert len(ids) == 10 and {e.event_id for e in events[:6]} <= ids <= {e.event_id for e in events}


async def test_records_below_the_saved_position_are_not_counted_again() -> None:
    # A crash after the state was saved but before the offsets were committed: the next owner gets
    # the records again and must skip them (their events are in the restored state).
    bus, store = MemoryBus(BUS), MemoryStore()
    store.migrate()
    engine = Engine.load([REPO / "detections"])
    events = [failure(i, "web01") for i in range(9)]
    corr_producer = bus.producer()
    await corr_producer.start()
    correlator = Correlator()
    b = Batch([], events)
    match_and_correlate(engine, correlator, b, T0, local=False)
    assert len(b.correlation) == 9
    await corr_producer.produce(CORR, b.correlation)

    class NoCommit:
        """The consumer of a process that dies right after saving its state."""

        def __init__(self, inner: Consumer) -> None:
            self.inner = inner

        async def poll(self, n: int, t: float) -> list:  # type: ignore[type-arg]
            return await self.inner.poll(n, t)

        async def commit(self, messages: object) -> None:
            return None

        def assignment(self) -> set[tuple[str, int]]:
            return self.inner.assignment()

        def lag(self) -> int:
            return 0

    async def run(consumer: object, until_cond: Callable[[], bool]) -> None:
        stop = asyncio.Event()

        async def emit(alerts: list[Alert]) -> None:
            store.insert_alerts(alerts)

        task = asyncio.create_task(
            run_correlation(
                consumer,  # type: ignore[arg-type]
                cfg=corr_cfg(),
                store=store,
                rules=lambda: engine.correlations,
                emit=emit,
                stop=stop,
            )
        )
        await until(until_cond)
        stop.set()
        await asyncio.wait_for(task, 5)

    c1 = bus.consumer("w-correlation", [CORR])
    await c1.start()
    await run(NoCommit(c1), lambda: [s.position for s in saved_states(store)] == [9])
    await c1.stop()
    assert committed(bus, "w-correlation", CORR) == 0

    # Nine replayed plus one new: exactly ten, so the alert fires once, on the tenth distinct event.
    b2 = Batch([], [failure(9, "web01")])
    match_and_correlate(engine, Correlator(), b2, T0, local=False)
    await corr_producer.produce(CORR, b2.correlation)
    c2 = bus.consumer("w-correlation", [CORR])
    await c2.start()
    await run(c2, lambda: committed(bus, "w-correlation", CORR) == 10)
    [alert] = correlation_alerts(store)
    assert alert.extra["count"] == 10 and len(alert.event_ids) == 10


def test_local_correlation_restores_and_suppresses_base_alerts(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(REPO / "detections/linux/sshd_authentication_failures.yml", rules)
    text = (REPO / "detections/linux/correlation_sshd_bruteforce.yml").read_text()
    (rules / "brute.yml").write_text(text.replace("generate: true", "generate: false"))
    engine = Engine.load([rules])
    assert not engine.errors and engine.correlations
    events = [failure(i, "web01") for i in range(12)]

    first = Correlator()
    b1 = Batch([], events[:5])
    match_and_correlate(engine, first, b1, T0, local=True)
    assert b1.alerts == []  # base hits feed correlation but raise nothing of their own
    store = MemoryStore()
    store.migrate()
    store.save_states([StageState(LOCAL_STATE, 1, first.snapshot() or "")])

    second = Correlator()  # a restarted process
    second.restore(engine.correlations, store.load_state(LOCAL_STATE))
    b2 = Batch([], events[5:])
    match_and_correlate(engine, second, b2, T0, local=True)
    [alert] = b2.alerts
    assert alert.rule_id == BRUTE and alert.extra["count"] == 10

    fresh = Correlator()  # the same events without the restored state: no alert
    b3 = Batch([], events[5:])
    match_and_correlate(engine, fresh, b3, T0, local=True)
    assert b3.alerts == []


def test_a_sender_clock_years_ahead_does_not_make_other_events_late() -> None:
    engine = Engine.load([REPO / "detections"])
    correlator = Correlator()
    wrong = failure(99, "broken-clock", src="192.0.2.1")
    wrong = dataclasses.replace(wrong, event_time=T0 + timedelta(days=3 * 365), received_at=T0)
    b0 = Batch([], [wrong])
    match_and_correlate(engine, correlator, b0, T0, local=True)
    b1 = Batch([], [failure(i, "web01") for i in range(10)])
    match_and_correlate(engine, correlator, b1, T0, local=True)
    assert [a.rule_id for a in b1.alerts].count(BRUTE) == 1
