"""``citysoc run``: the embedded default. One process, no external servers.

collectors (syslog UDP/TCP[/TLS], HTTP ingest) → store events in chDB → in-process bus → detection
worker → alerts in chDB; the API on the same port as HTTP ingest.

Crash safety: HTTP ingest answers 202 once events are stored. Detection keeps a watermark in the
store (see ``citysoc.core.watermark``); at start, stored events at or past it are evaluated again
before anything new, so an event acknowledged before a crash is never left unevaluated. Alert ids
are deterministic, so re-evaluation creates no duplicates. Correlation runs in the worker on one
engine; its state is saved before each commit and restored at start (events re-evaluated by recovery
that the state already counted are recognised by id and not counted again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from citysoc.api.app import create_api
from citysoc.api.groups.service import ingest_alerts
from citysoc.bus.memory import MemoryBus
from citysoc.collector.http import ingest_router
from citysoc.collector.sinks import StoreSink
from citysoc.core.alert import Alert
from citysoc.core.config import Settings
from citysoc.core.watermark import PendingTracker
from citysoc.db.engine import open_database
from citysoc.detection.engine import Engine
from citysoc.roles import common
from citysoc.store.base import StageState, Store
from citysoc.worker.correlate import LOCAL_STATE, Correlator
from citysoc.worker.pipeline import Batch, WorkerConfig, match_and_correlate, retry, run_worker

log = logging.getLogger("citysoc.run")
WATERMARK = "detection"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def recover(
    store: Store,
    engine: Engine,
    tracker: PendingTracker,
    correlator: Correlator,
    page: int = 5000,
    on_alerts: Callable[[list[Alert]], Awaitable[None]] | None = None,
) -> int:
    """Evaluate stored events at or past the persisted watermark (matching and correlation); returns
    how many were evaluated. ``on_alerts`` (the alert groups feed) sees the alerts before the
    watermark moves past them."""
    # No watermark yet means no batch was ever committed: every stored event may be unevaluated.
    since = await asyncio.to_thread(store.get_watermark, WATERMARK) or EPOCH
    total = 0
    after: str | None = None
    while True:
        events = await asyncio.to_thread(store.events_received_since, since, page, after)
        if not events:
            break
        batch = Batch([], events)
        match_and_correlate(engine, correlator, batch, datetime.now(UTC), local=True)
        if batch.alerts:
            await retry("store_alerts", 10.0, asyncio.to_thread, store.insert_alerts, batch.alerts)
            if on_alerts is not None:
                await on_alerts(batch.alerts)
        await save_correlation(store, correlator)
        tracker.done(events)
        total += len(events)
        since, after = events[-1].received_at, events[-1].event_id
        await asyncio.to_thread(store.set_watermark, WATERMARK, since)
    if total:
        log.info("recovery: re-evaluated %d stored events past the detection watermark", total)
    return total


async def save_correlation(store: Store, correlator: Correlator) -> None:
    data = correlator.snapshot()
    if data is not None:  # position: wall clock, increasing; one writer (this process)
        state = StageState(LOCAL_STATE, time.time_ns(), data)
        await retry("store_state", 10.0, asyncio.to_thread, store.save_states, [state])


async def run_embedded(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await common.open_store(settings)
    db = await open_database(settings.database_url, echo=settings.database.echo)

    async def feed_groups(alerts: list[Alert]) -> None:
        # Alert groups are fed before the watermark passes these alerts: after a crash, recovery
        # re-creates them (same ids) and feeding them again counts nothing twice.
        fields = settings.triage.group_key_fields
        await retry("alert_groups", 10.0, ingest_alerts, db, alerts, fields)

    rules = common.load_rules(settings)
    tracker = PendingTracker(await asyncio.to_thread(store.get_watermark, WATERMARK))
    correlator = Correlator()
    saved = await asyncio.to_thread(store.load_state, LOCAL_STATE)
    correlator.restore(rules.current.correlations, saved)
    await recover(store, rules.current, tracker, correlator, on_alerts=feed_groups)

    bus = MemoryBus(settings.bus)
    producer = bus.producer()
    await producer.start()
    raw_topic = settings.bus.topic("events.raw")
    consumer = bus.consumer(settings.worker.group, [raw_topic])
    await consumer.start()

    sink = StoreSink(store, producer, settings.bus, tracker)
    batcher = common.make_batcher(settings, sink)
    ingest = common.make_ingest(settings, sink)
    app = create_api(settings, store, mode="embedded", db=db)
    app.state.rules = rules  # the console's rules page lists every loaded rule and failure
    app.include_router(ingest_router(ingest))

    async def before_commit(batch: Batch) -> None:
        await save_correlation(store, correlator)
        if batch.alerts:
            await feed_groups(batch.alerts)

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
        max_backoff_s=settings.worker.retry_max_backoff_s,
        flush_rows=settings.worker.flush_rows,
        flush_interval_s=settings.worker.flush_interval_ms / 1000,
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
                before_commit=before_commit,
                correlator=correlator,
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
        await db.dispose()

    await common.supervise(stop, tasks, shutdown)
