"""Small steps shared by the worker's stages: retry with backoff, timing, dead letters for bus messages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from citysoc.bus.base import Message
from citysoc.core import metrics
from citysoc.core.deadletter import DeadLetter, Reason

log = logging.getLogger("citysoc.worker")


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


async def timed(stage: metrics.Stage, n: int, coro: Awaitable[Any]) -> None:
    """Await ``coro``, recording its duration and item count under ``stage``."""
    t0 = time.perf_counter()
    await coro
    metrics.STAGE_SECONDS.labels(stage).observe(time.perf_counter() - t0)
    metrics.STAGE_ITEMS.labels(stage).inc(n)


def undecodable(m: Message, error: Exception, reason: Reason = "bad_envelope") -> DeadLetter:
    """A dead letter for a bus message that cannot be decoded; its id is stable across redeliveries."""
    return DeadLetter.make(
        collector="worker",
        connection=f"{m.topic}/{m.partition}",
        sequence=m.offset,
        received_at=datetime(1970, 1, 1, tzinfo=UTC),  # deterministic id across redeliveries
        agency="",
        source_ip="",
        transport="replay",
        reason=reason,
        detail=f"undecodable message {m.topic}/{m.partition}@{m.offset}: {error} (seen {datetime.now(UTC)})",
        raw=m.value,
    )
