"""The scaled mode's process roles: ``citysoc collector``, ``citysoc worker``, ``citysoc api``.

They talk over Kafka and reach ClickHouse over HTTP (a ClickHouse server in production; ``citysoc
store serve`` in development and tests). The worker commits offsets only after the store has
acknowledged the batch's rows (see ``citysoc.worker.pipeline``). Correlation rules are evaluated by
a second stage in every worker process that consumes ``citysoc.correlation``, where the detection
stage re-keys hits by (correlation rule, group) — see ``citysoc.worker.correlate``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from citysoc.api.app import create_api
from citysoc.api.groups.feed import run_group_feed
from citysoc.bus.kafka import KafkaBus, ensure_topics
from citysoc.collector.http import ingest_router
from citysoc.collector.sinks import BusSink
from citysoc.core.alert import Alert
from citysoc.core.config import Settings
from citysoc.db.engine import open_database
from citysoc.roles import common
from citysoc.web.app import create_app
from citysoc.worker.correlate import CorrelationConfig, run_correlation
from citysoc.worker.pipeline import WorkerConfig, run_worker, store_alerts

log = logging.getLogger("citysoc")


def _topics(settings: Settings) -> list[str]:
    b = settings.bus
    return [b.topic("events.raw"), b.topic("events.dead"), b.topic("alerts"), b.topic("correlation")]


async def run_collector(settings: Settings) -> None:
    bus = KafkaBus(settings.bus)
    await ensure_topics(settings.bus, _topics(settings), settings.bus.partitions)
    producer = bus.producer()
    await producer.start()
    sink = BusSink(producer, settings.bus)
    batcher = common.make_batcher(settings, sink)
    c = settings.collector
    ingest = common.make_ingest(settings, sink)

    async def health() -> dict[str, Any]:
        return {"bus": True}

    app = create_app("citysoc collector", settings, health)
    app.include_router(ingest_router(ingest))
    stop = asyncio.Event()
    common.stop_on_signals(stop)
    listeners = await common.start_listeners(settings, batcher)
    server = common.http_server(app, c.host, c.http_port)
    tasks = [
        asyncio.create_task(batcher.run(), name="batcher"),
        asyncio.create_task(server.serve(), name="http"),
    ]
    log.info(
        "collector %s: HTTP ingest on %s:%d, Kafka %s",
        c.instance,
        c.host,
        c.http_port,
        settings.bus.bootstrap_servers,
    )

    async def shutdown() -> None:
        for h in listeners:
            h.close()
        server.should_exit = True
        try:
            await asyncio.wait_for(batcher.drained(), 10)
        except TimeoutError:
            log.warning("shutdown: collector queue not drained in time")
        await producer.stop()

    await common.supervise(stop, tasks, shutdown)


async def run_worker_role(settings: Settings) -> None:
    store = await common.open_store(settings)
    rules = common.load_rules(settings)
    bus = KafkaBus(settings.bus)
    await ensure_topics(settings.bus, _topics(settings), settings.bus.partitions)
    b = settings.bus
    consumer = bus.consumer(settings.worker.group, [b.topic("events.raw"), b.topic("events.dead")])
    corr_group = f"{settings.worker.group}-correlation"
    corr_consumer = bus.consumer(corr_group, [b.topic("correlation")])
    producer = bus.producer()
    await producer.start()
    await consumer.start()
    await corr_consumer.start()

    async def health() -> dict[str, Any]:
        return {"store": await asyncio.to_thread(store.ping)}

    w = settings.worker
    app = create_app("citysoc worker", settings, health)
    server = common.http_server(app, w.metrics_host, w.metrics_port)
    cfg = WorkerConfig(
        raw_topic=b.topic("events.raw"),
        dead_topic=b.topic("events.dead"),
        alerts_topic=b.topic("alerts"),
        store_events=True,
        batch_max=w.batch_max,
        poll_timeout_s=w.poll_timeout_ms / 1000,
        max_backoff_s=w.retry_max_backoff_s,
        correlation_topic=b.topic("correlation"),
        flush_rows=w.flush_rows,
        flush_interval_s=w.flush_interval_ms / 1000,
    )
    corr_cfg = CorrelationConfig(
        topic=b.topic("correlation"),
        group=corr_group,
        alerts_topic=b.topic("alerts"),
        batch_max=w.batch_max,
        poll_timeout_s=w.poll_timeout_ms / 1000,
        max_backoff_s=w.retry_max_backoff_s,
    )

    async def emit(alerts: list[Alert]) -> None:
        await store_alerts(
            alerts, store=store, producer=producer, topic=b.topic("alerts"), max_backoff=w.retry_max_backoff_s
        )

    stop = asyncio.Event()
    worker_stop = asyncio.Event()
    common.stop_on_signals(stop)
    tasks = [
        asyncio.create_task(
            run_worker(
                consumer,
                cfg=cfg,
                store=store,
                matcher=lambda: rules.current,
                producer=producer,
                stop=worker_stop,
            ),
            name="worker",
        ),
        asyncio.create_task(
            run_correlation(
                corr_consumer,
                cfg=corr_cfg,
                store=store,
                rules=lambda: rules.current.correlations,
                emit=emit,
                stop=worker_stop,
            ),
            name="correlation",
        ),
        asyncio.create_task(server.serve(), name="http"),
        asyncio.create_task(rules.watch(settings.detection.reload_interval_s), name="rules"),
    ]
    log.info(
        "worker: group %s, metrics on %s:%d, store %s",
        w.group,
        w.metrics_host,
        w.metrics_port,
        settings.store.dsn,
    )

    async def shutdown() -> None:
        worker_stop.set()
        server.should_exit = True
        await common.finish(tasks[0])
        await common.finish(tasks[1])
        await consumer.stop()
        await corr_consumer.stop()
        await producer.stop()
        store.close()

    await common.supervise(stop, tasks, shutdown)


ALERT_GROUPS_CONSUMER = "citysoc-alert-groups"


async def run_api(settings: Settings) -> None:
    store = await common.open_store(settings)
    db = await open_database(settings.database_url, echo=settings.database.echo)
    app = create_api(settings, store, mode="api", db=db)
    server = common.http_server(app, settings.api.host, settings.api.port)
    # The API processes feed alert groups from the alerts topic (one consumer group among them).
    await ensure_topics(settings.bus, _topics(settings), settings.bus.partitions)
    consumer = KafkaBus(settings.bus).consumer(ALERT_GROUPS_CONSUMER, [settings.bus.topic("alerts")])
    await consumer.start()
    stop = asyncio.Event()
    feed_stop = asyncio.Event()
    common.stop_on_signals(stop)
    feed = run_group_feed(
        consumer,
        db,
        settings.triage.group_key_fields,
        stop=feed_stop,
        max_backoff_s=settings.worker.retry_max_backoff_s,
    )
    tasks = [
        asyncio.create_task(server.serve(), name="http"),
        asyncio.create_task(feed, name="alert-groups"),
    ]
    log.info("api on %s:%d, store %s", settings.api.host, settings.api.port, settings.store.dsn)

    async def shutdown() -> None:
        server.should_exit = True
        feed_stop.set()
        await common.finish(tasks[1])
        await consumer.stop()
        await asyncio.sleep(0.2)
        store.close()
        await db.dispose()

    await common.supervise(stop, tasks, shutdown)
