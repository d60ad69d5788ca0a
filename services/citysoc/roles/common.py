"""Plumbing shared by the process roles: logging, store and engine construction, serving, signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI

from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.batcher import Batcher
from citysoc.collector.http import HttpIngest
from citysoc.collector.pipeline import PipelineContext
from citysoc.collector.sinks import Sink
from citysoc.collector.syslog import start_stream, start_udp
from citysoc.core.config import Settings
from citysoc.store.base import Store
from citysoc.store.clickhouse import ClickHouseStore
from citysoc.worker.rules import RuleSet

log = logging.getLogger("citysoc")


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def open_store(settings: Settings, attempts: int = 60) -> Store:
    """Connect and migrate, waiting for the store to come up (a process may start before it)."""
    delay = 0.5
    for i in range(attempts):
        try:
            store: Store = await asyncio.to_thread(ClickHouseStore, settings.store)
            await asyncio.to_thread(store.migrate)
            return store
        except Exception as e:
            if i == attempts - 1:
                raise
            log.warning("store %s not ready (%s); retrying", settings.store.dsn, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise RuntimeError("unreachable")


def load_rules(settings: Settings) -> RuleSet:
    return RuleSet(list(settings.detection.rules))


def pipeline_context(settings: Settings) -> PipelineContext:
    c = settings.collector
    return PipelineContext.create(c.instance, SourceRegistry(settings), c.default_timezone)


async def start_listeners(settings: Settings, batcher: Batcher) -> list[Any]:
    """Start the syslog listeners configured (UDP, TCP, TLS); returns handles to close."""
    c = settings.collector
    handles: list[Any] = []
    if c.syslog_udp_port is not None:
        handles.append(await start_udp(batcher, c.host, c.syslog_udp_port, c.max_message_bytes))
    if c.syslog_tcp_port is not None:
        handles.append(await start_stream(batcher, c.host, c.syslog_tcp_port, c.max_message_bytes))
    if c.syslog_tls_port is not None:
        if not (c.tls_cert and c.tls_key):
            raise ValueError("collector.syslog_tls_port needs collector.tls_cert and collector.tls_key")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(c.tls_cert, c.tls_key)
        cert_agency = None
        if c.tls_client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=c.tls_client_ca)

            def cert_agency(names: Sequence[str]) -> str | None:
                agency = settings.agency_for_cert_names(names)
                return agency.code if agency else None

        handles.append(
            await start_stream(batcher, c.host, c.syslog_tls_port, c.max_message_bytes, ctx, cert_agency)
        )
    log.info(
        "syslog listening: udp=%s tcp=%s tls=%s", c.syslog_udp_port, c.syslog_tcp_port, c.syslog_tls_port
    )
    return handles


def make_ingest(settings: Settings, sink: Sink) -> HttpIngest:
    c = settings.collector
    return HttpIngest(
        pipeline_context(settings),
        sink,
        max_request_bytes=c.max_request_bytes,
        max_message_bytes=c.max_message_bytes,
    )


def make_batcher(settings: Settings, sink: Sink) -> Batcher:
    c = settings.collector
    return Batcher(
        pipeline_context(settings),
        sink,
        queue_max=c.queue_max,
        batch_max=c.batch_max,
        linger_ms=c.batch_linger_ms,
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the role's supervisor owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def http_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    return _Server(config)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def finish(task: asyncio.Task[Any], timeout_s: float = 15.0) -> None:
    """Let a task that was asked to stop finish its current batch (it is cancelled after the timeout;
    an uncommitted batch is then redelivered, never lost)."""
    await asyncio.wait([task], timeout=timeout_s)


async def supervise(
    stop: asyncio.Event, tasks: list[asyncio.Task[Any]], on_stop: Callable[[], Awaitable[None]]
) -> None:
    """Wait for a stop signal or for any task to fail; then shut down in order."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not waiter and not t.cancelled() and t.exception()]
    try:
        await on_stop()
    finally:
        for t in [waiter, *tasks]:
            t.cancel()
        await asyncio.gather(waiter, *tasks, return_exceptions=True)
    if failed:
        raise RuntimeError("a pipeline task failed") from failed[0].exception()
