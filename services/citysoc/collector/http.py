"""HTTP agent ingest: ``POST /api/v1/ingest``.

Contract:
* The agency comes from the bearer token (an agency ingest token), never from the payload.
* Body: NDJSON (one JSON object per line) or one JSON array of objects; ``Content-Encoding: gzip``
  accepted. Over ``max_request_bytes`` (compressed or decompressed) → 413, nothing kept.
* Each record becomes an event or a dead letter. 202 once the whole batch is durably handed off
  (stored in the embedded mode, acknowledged by Kafka otherwise). If some records are unparseable,
  400 lists their line numbers (1-based; array elements count from 1) and the good ones are kept.
* When the pipeline cannot take the batch in time (backpressure) or the sink fails: 503 with
  ``Retry-After``; the client sends the batch again (ids differ per request, so a retry after a 503
  whose batch did land would duplicate: 503 is only returned when the sink did not accept).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from citysoc.collector.batcher import record_outcomes
from citysoc.collector.frames import Frame
from citysoc.collector.pipeline import PipelineContext, process
from citysoc.collector.sinks import Sink
from citysoc.core import metrics
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.web.auth import Principal, require_ingest
from citysoc.web.problems import problem

log = logging.getLogger(__name__)


class TooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class IngestResult:
    events: list[Event]
    dead: list[DeadLetter]
    rejected_lines: Sequence[tuple[int, str, str]]


def gunzip(body: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(wbits=47)  # gzip or zlib header
    out = d.decompress(body, limit + 1)
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge
    return out


def split_records(body: bytes) -> list[tuple[int, bytes]]:
    """(line number, record bytes) for NDJSON or a JSON array; blank lines are skipped."""
    head = body.lstrip()
    if head[:1] == b"[":
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError:
            return [(1, body)]  # the whole body becomes one bad_json dead letter
        return [(i, orjson.dumps(item)) for i, item in enumerate(items, start=1)]
    return [(i, line) for i, line in enumerate(body.split(b"\n"), start=1) if line.strip()]


def frames_for(body: bytes, agency: str, peer_ip: str, max_message: int) -> list[Frame]:
    conn = f"http:{uuid.uuid4()}"
    now = datetime.now(UTC)
    frames = []
    for lineno, data in split_records(body):
        truncated = len(data) > max_message
        frames.append(
            Frame(
                data[:max_message] if truncated else data,
                "json",
                "http",
                peer_ip,
                conn,
                lineno,
                now,
                agency,
                truncated,
            )
        )
    return frames


class HttpIngest:
    def __init__(
        self,
        ctx: PipelineContext,
        sink: Sink,
        *,
        max_request_bytes: int,
        max_message_bytes: int,
        max_inflight: int = 8,
        admission_timeout_s: float = 5.0,
    ) -> None:
        self._ctx = ctx
        self._sink = sink
        self.max_request_bytes = max_request_bytes
        self._max_message = max_message_bytes
        self._slots = asyncio.Semaphore(max_inflight)
        self._admission_timeout = admission_timeout_s

    async def ingest(self, body: bytes, agency: str, peer_ip: str) -> IngestResult:
        frames = frames_for(body, agency, peer_ip, self._max_message)
        results: list[Event | DeadLetter] = [process(f, self._ctx) for f in frames]
        record_outcomes(frames, results)
        events = [r for r in results if isinstance(r, Event)]
        dead = [r for r in results if isinstance(r, DeadLetter)]
        rejected = [
            (f.sequence, r.reason, r.detail)
            for f, r in zip(frames, results, strict=True)
            if isinstance(r, DeadLetter)
        ]
        await asyncio.wait_for(self._slots.acquire(), self._admission_timeout)
        try:
            await self._sink.put(events, dead)
        finally:
            self._slots.release()
        return IngestResult(events, dead, rejected)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise TooLarge
    body = bytes(buf)
    if request.headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
        try:
            body = gunzip(body, limit)
        except zlib.error as e:
            raise HTTPException(400, f"invalid gzip body: {e}") from e
    return body


def ingest_router(ingest: HttpIngest) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ingest"])

    @router.post("/ingest", status_code=202, response_model=None)
    async def post_ingest(
        request: Request, who: Annotated[Principal, Depends(require_ingest)]
    ) -> JSONResponse:
        assert who.agency is not None
        try:
            body = await read_body(request, ingest.max_request_bytes)
        except TooLarge:
            metrics.INGEST_REJECTED.labels("too_large").inc()
            return problem(413, "Content Too Large", f"request body exceeds {ingest.max_request_bytes} bytes")
        peer = request.client.host if request.client else ""
        try:
            result = await ingest.ingest(body, who.agency, peer)
        except TimeoutError:
            metrics.INGEST_REJECTED.labels("busy").inc()
            return problem(
                503, "Busy", "the pipeline is saturated; retry later", headers={"Retry-After": "1"}
            )
        except Exception as e:
            log.warning("ingest sink failed: %s", e)
            metrics.INGEST_REJECTED.labels("unavailable").inc()
            return problem(
                503, "Unavailable", "events could not be stored; retry later", headers={"Retry-After": "5"}
            )
        body_out: dict[str, Any] = {
            "accepted": len(result.events),
            "event_ids": [e.event_id for e in result.events],
            "dead_letters": len(result.dead),
        }
        if result.rejected_lines:
            errors = [{"line": n, "reason": r, "detail": d} for n, r, d in result.rejected_lines]
            return problem(
                400,
                "Some records were rejected",
                "rejected records were kept as dead letters; the others were accepted",
                errors=errors,
                **body_out,
            )
        return JSONResponse(body_out, status_code=202)

    return router
