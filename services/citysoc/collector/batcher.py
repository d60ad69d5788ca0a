"""Bounded queue between listeners and the sink, with batching and retry.

Listeners ``await submit(frame)``: when the queue is full that call waits, so a TCP listener stops
reading and the sender's kernel buffers fill (backpressure). UDP cannot push back, so it uses
``submit_nowait`` and counts a drop. The run loop takes up to ``batch_max`` frames (waiting at most
``linger`` for a batch to fill), runs the pure pipeline on each, and hands the batch to the sink,
retrying with backoff until the sink accepts it: a batch is never dropped. Up to ``max_inflight``
batches are handed off at once, so the sink's round trip (Kafka acks=all, a store insert) overlaps
with parsing the next batch; the Kafka producer keeps the send order of batches handed off in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from citysoc.collector.frames import Frame
from citysoc.collector.pipeline import PipelineContext, process
from citysoc.collector.sinks import Sink
from citysoc.core import metrics
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event

log = logging.getLogger(__name__)


def record_outcomes(frames: Sequence[Frame], results: Sequence[Event | DeadLetter]) -> None:
    """Per-transport and per-source counters for one processed batch."""
    for f, r in zip(frames, results, strict=True):
        size = len(f.data)
        metrics.COLLECTOR_BYTES.labels(f.transport).inc(size)
        if isinstance(r, Event):
            metrics.COLLECTOR_MESSAGES.labels(f.transport, r.format, "event").inc()
            metrics.SOURCE_BYTES.labels(r.agency, f.peer_ip).inc(size)
            metrics.SOURCE_EVENTS.labels(r.agency, r.system, f.peer_ip).inc()
            metrics.SOURCE_LAST_SEEN.labels(r.agency, r.system, f.peer_ip).set(f.received_at.timestamp())
        else:
            metrics.COLLECTOR_MESSAGES.labels(f.transport, "unknown", "dead").inc()
            metrics.DEAD_LETTERS.labels(r.reason).inc()
            metrics.SOURCE_BYTES.labels(r.agency, f.peer_ip).inc(size)
            metrics.SOURCE_ERRORS.labels(r.agency, f.peer_ip, r.reason).inc()


def run_pipeline(frames: list[Frame], ctx: PipelineContext) -> tuple[list[Event], list[DeadLetter]]:
    t0 = time.perf_counter()
    results = [process(f, ctx) for f in frames]
    metrics.STAGE_SECONDS.labels("parse").observe(time.perf_counter() - t0)
    metrics.STAGE_ITEMS.labels("parse").inc(len(frames))
    record_outcomes(frames, results)
    events = [r for r in results if isinstance(r, Event)]
    dead = [r for r in results if isinstance(r, DeadLetter)]
    return events, dead


async def put_with_retry(
    sink: Sink, events: list[Event], dead: list[DeadLetter], max_backoff: float = 10.0
) -> None:
    """Hand a batch to the sink, retrying until it is accepted (the collector pauses, never drops)."""
    backoff = 0.1
    while True:
        t0 = time.perf_counter()
        try:
            await sink.put(events, dead)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("sink refused a batch of %d events (%s); retrying in %.1fs", len(events), e, backoff)
            metrics.STORE_RETRIES.labels("sink").inc()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        metrics.STAGE_SECONDS.labels("sink").observe(time.perf_counter() - t0)
        metrics.STAGE_ITEMS.labels("sink").inc(len(events) + len(dead))
        return


class Batcher:
    def __init__(
        self,
        ctx: PipelineContext,
        sink: Sink,
        *,
        queue_max: int,
        batch_max: int,
        linger_ms: int,
        max_inflight: int = 4,
    ) -> None:
        self._ctx = ctx
        self._sink = sink
        self._slots = asyncio.Semaphore(max_inflight)
        self._inflight: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=queue_max)
        self._batch_max = batch_max
        self._linger = linger_ms / 1000
        self._idle = asyncio.Event()
        self._idle.set()

    async def submit(self, frame: Frame) -> None:
        self._idle.clear()
        await self._queue.put(frame)
        metrics.COLLECTOR_QUEUE.set(self._queue.qsize())

    def submit_nowait(self, frame: Frame) -> bool:
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            metrics.COLLECTOR_DROPPED.labels(frame.transport, "queue_full").inc()
            metrics.SOURCE_DROPS.labels(frame.peer_ip).inc()
            return False
        self._idle.clear()
        return True

    async def drained(self) -> None:
        """Wait until every submitted frame has been handed to the sink."""
        await self._idle.wait()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            self._idle.clear()
            frames = [first]
            deadline = loop.time() + self._linger
            while len(frames) < self._batch_max:
                try:
                    frames.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    frames.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            metrics.COLLECTOR_QUEUE.set(self._queue.qsize())
            events, dead = run_pipeline(frames, self._ctx)
            await self._slots.acquire()  # at most max_inflight hand-offs: a slow sink pushes back here
            task = asyncio.create_task(self._handoff(events, dead))
            self._inflight.add(task)
            task.add_done_callback(self._finished)

    async def _handoff(self, events: list[Event], dead: list[DeadLetter]) -> None:
        try:
            await put_with_retry(self._sink, events, dead)
        finally:
            self._slots.release()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if self._queue.empty() and not self._inflight:
            self._idle.set()
