"""HTTP ingest under backpressure: a saturated pipeline answers 503 with Retry-After, never drops."""

from __future__ import annotations

import asyncio

import httpx

from citysoc.bus.memory import MemoryBus
from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.http import HttpIngest, ingest_router
from citysoc.collector.pipeline import PipelineContext
from citysoc.collector.sinks import BusSink
from citysoc.core.config import BusSettings, Settings, hash_token
from citysoc.web.app import create_app

TOKEN = "q1-token"
SETTINGS = Settings.model_validate({"agencies": [{"code": "q1", "ingest_tokens": [hash_token(TOKEN)]}]})


async def test_saturated_pipeline_answers_503_and_keeps_what_it_accepted() -> None:
    bus_settings = BusSettings(partitions=1, max_pending=5)
    bus = MemoryBus(bus_settings)
    producer = bus.producer()
    await producer.start()
    ctx = PipelineContext.create("t", SourceRegistry(SETTINGS), "Asia/Ho_Chi_Minh")
    ingest = HttpIngest(
        ctx,
        BusSink(producer, bus_settings),
        max_request_bytes=1 << 20,
        max_message_bytes=4096,
        max_inflight=1,
        admission_timeout_s=0.2,
    )
    app = create_app("t", SETTINGS)
    app.include_router(ingest_router(ingest))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = b"\n".join(b'{"host": "h", "n": %d}' % i for i in range(10))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        # The first batch fills the bus (no consumer yet) and holds the only in-flight slot.
        first = asyncio.create_task(client.post("/api/v1/ingest", content=body, headers=headers))
        await asyncio.sleep(0.1)
        second = await client.post("/api/v1/ingest", content=body, headers=headers)
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert second.headers["content-type"].startswith("application/problem+json")
        # A consumer drains the bus: the first request completes with 202, all 10 records delivered.
        consumer = bus.consumer("g", [bus_settings.topic("events.raw")])
        await consumer.start()
        got = []
        while len(got) < 10:
            msgs = await consumer.poll(100, 0.2)
            got += msgs
            await consumer.commit(msgs)
        r = await asyncio.wait_for(first, 5)
        assert r.status_code == 202 and r.json()["accepted"] == 10
        assert len({m.value for m in got}) == 10
