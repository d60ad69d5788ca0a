"""``citysoc run``: the embedded default. One process, no external servers.

collectors (syslog UDP/TCP[/TLS], HTTP ingest) → store events in chDB → in-process bus → detection
worker → alerts in chDB; the API on the same port as HTTP ingest.

Crash safety: HTTP ingest answers 202 once events are stored. Detection keeps a watermark in the
store (see ``citysoc.core.watermark``); at start, stored events at or past it are evaluated again
before anything new, so an event acknowledged before a crash is never left unevaluated. Alert ids
are deterministic, so re-evaluation creates no duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from citysoc.api.app import create_api
from citysoc.bus.memory import MemoryBus
from citysoc.collector.http import ingest_router
from citysoc.collector.sinks import StoreSink
from citysoc.core.config import Settings
from citysoc.core.watermark import PendingTracker
from citysoc.detection.engine import Engine
from citysoc.roles import common
from citysoc.store.base import Store
from citysoc.worker.pipeline import Batch, WorkerConfig, detect, retry, run_worker

log = logging.getLogger("citysoc.run")
WATERMARK = "detection"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def recover(store: Store, engine: Engine, tracker: PendingTracker, page: int = 5000) -> int:
    """Evaluate stored events at or past the persisted watermark; returns how many were evaluated."""
    # No watermark yet means no batch was ever committed: every stored event may be unevaluated.
    since = await asyncio.to_thread(store.get_watermark, WATERMARK) or EPOCH
    total = 0
    after: str | None = None
    while True:
        events = await asyncio.to_thread(store.events_received_since, since, page, after)
        if not events:
            break
        alerts = detect(engine, events, datetime.now(UTC))
        if alerts:
            await retry("store_alerts", 10.0, asyncio.to_thread, store.insert_alerts, alerts)
        tracker.done(events)
        total += len(events)
        since, after = events[-1].received_at, events[-1].event_id
        await asyncio.to_thread(store.set_watermark, WATERMARK, since)
    if total:
        log.info("recovery: re-evaluated %d stored events past the detection watermark", total)
    return total


async def run_embedded(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await common.open_store(settings)
    rules = common.load_rules(settings)
    tracker = PendingTracker(await asyncio.to_thread(store.get_watermark, WATERMARK))
    await recover(store, rules.current, tracker)

    bus = MemoryBus(settings.bus)
    producer = bus.producer()
    await producer.start()
    raw_topic = settings.bus.topic("events.raw")
    consumer = bus.consumer(settings.worker.group, [raw_topic])
    await consumer.start()

    sink = StoreSink(store, producer, settings.bus, tracker)
    batcher = common.make_batcher(settings, sink)
    ingest = common.make_ingest(settings, sink)
    app = create_api(settings, store, mode="embedded")
    app.include_router(ingest_router(ingest))

    async def after_commit(batch: Batch) -> None:
        tracker.done(batch.events)
        low = tracker.low_watermark()
        if low is not None:
            await retry("watermark", 10.0, asyncio.to_thread, store.set_watermark, WATERMARK, low)

    stop = asyncio.Event()
    common.stop_on_signals(stop)
    cfg = WorkerConfig(
        raw_topic=raw_topic,
        dead_topic=settings.bus.topic("events.dead"),
        alerts_topic=None,
        store_events=False,
        batch_max=settings.worker.batch_max,
        poll_timeout_s=settings.worker.poll_timeout_ms / 1000,
    )
    worker_stop = asyncio.Event()
    listeners = await common.start_listeners(settings, batcher)
    server = common.http_server(app, settings.api.host, settings.api.port)
    tasks = [
        asyncio.create_task(batcher.run(), name="batcher"),
        asyncio.create_task(
            run_worker(
                consumer,
                cfg=cfg,
                store=store,
                matcher=lambda: rules.current,
                after_commit=after_commit,
                stop=worker_stop,
            ),
            name="worker",
        ),
        asyncio.create_task(server.serve(), name="http"),
        asyncio.create_task(rules.watch(settings.detection.reload_interval_s), name="rules"),
    ]
    log.info(
        "citysoc embedded: API and ingest on http://%s:%d, store %s",
        settings.api.host,
        settings.api.port,
        settings.store.dsn,
    )

    async def shutdown() -> None:
        log.info("stopping: closing listeners, draining the pipeline")
        for h in listeners:
            h.close()
        server.should_exit = True
        try:
            await asyncio.wait_for(batcher.drained(), 10)
            while tracker.in_flight():  # noqa: ASYNC110 - the tracker is pure state, it has no event to await
                await asyncio.sleep(0.05)
        except TimeoutError:
            log.warning("shutdown: pipeline not drained in time; the watermark covers what is left")
        worker_stop.set()
        await common.finish(tasks[1])
        await consumer.stop()
        await producer.stop()
        store.close()

    await common.supervise(stop, tasks, shutdown)
