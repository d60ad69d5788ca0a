"""Feeding alert groups: one group per fingerprint, each alert id counted once however often it is
delivered (same batch, later batch, concurrent writers, redelivery from the alerts topic)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from citysoc.api.groups.feed import run_group_feed
from citysoc.api.groups.service import ingest_alerts
from citysoc.bus.base import Record
from citysoc.bus.memory import MemoryBus
from citysoc.core.config import BusSettings
from citysoc.db import AlertGroup, Database

from .support import T0, alert


async def groups(db: Database) -> dict[tuple[str, str, str], AlertGroup]:
    async with db.session() as s:
        rows = (await s.scalars(sa.select(AlertGroup))).all()
    return {(g.rule_id, g.system, g.key.get("host", "")): g for g in rows}


async def test_groups_by_fingerprint_and_counts_each_alert_once(db: Database) -> None:
    batch = [alert(1), alert(2, level="critical"), alert(1), alert(3, host="web02"), alert(4, rule="r-other")]
    r = await ingest_alerts(db, batch)
    assert (r.new_alerts, r.duplicates, r.new_groups, r.updated_groups) == (4, 1, 3, 0)
    again = await ingest_alerts(db, [alert(2), alert(5, minutes=-30, level="low"), alert(1)])
    assert (again.new_alerts, again.duplicates, again.new_groups, again.updated_groups) == (1, 2, 0, 1)
    g = await groups(db)
    main = g[("r-brute", "portal", "web01")]
    assert main.count == 3 and main.level == "critical"  # the highest level seen
    assert main.first_seen == T0 - timedelta(minutes=30)  # the late, older alert moved it back
    assert main.last_seen == alert(2).time
    assert g[("r-brute", "portal", "web02")].count == 1 and g[("r-other", "portal", "web01")].count == 1
    assert main.status == "new" and main.agency == "q1" and main.key == {"host": "web01"}


async def test_key_fields_are_configurable(db: Database) -> None:
    a = alert(1, matched={"User": "alice"})
    b = alert(2, matched={"User": "bob"})
    r = await ingest_alerts(db, [a, b], key_fields=("User",))
    assert r.new_groups == 2
    r = await ingest_alerts(db, [alert(3, host="other", matched={"User": "alice"})], key_fields=("User",))
    assert r.new_groups == 0 and r.updated_groups == 1


async def test_concurrent_writers_count_once(db_url: str) -> None:
    """Four independent engines (as four API processes would) ingest overlapping batches at once."""
    dbs = [Database(db_url) for _ in range(4)]
    try:
        batches = [[alert(i) for i in range(k, k + 30)] for k in (0, 10, 20, 0)]
        await asyncio.gather(*(ingest_alerts(d, b) for d, b in zip(dbs, batches, strict=True)))
        g = await groups(dbs[0])
        assert len(g) == 1 and next(iter(g.values())).count == 50
    finally:
        for d in dbs:
            await d.dispose()


async def test_feed_from_alerts_topic_survives_redelivery(db: Database) -> None:
    settings = BusSettings(partitions=2)
    bus = MemoryBus(settings)
    producer = bus.producer()
    await producer.start()
    topic = settings.topic("alerts")
    alerts = [alert(i, host=f"h{i % 3}") for i in range(20)]
    await producer.produce(topic, [Record(a.host.encode(), a.to_json()) for a in alerts])
    await producer.produce(topic, [Record(b"x", b"not an alert")])

    async def run_until(count: int, commit: bool) -> None:
        consumer = bus.consumer("citysoc-alert-groups", [topic])
        await consumer.start()
        if not commit:  # a crash after writing, before committing: the same records come again
            msgs = await consumer.poll(100, 1.0)
            await ingest_alerts(db, [a for a in alerts if a.to_json() in {m.value for m in msgs}])
            await consumer.stop()
            return
        stop = asyncio.Event()
        task = asyncio.create_task(run_group_feed(consumer, db, ("host",), stop=stop, poll_timeout_s=0.05))
        for _ in range(200):
            if sum(g.count for g in (await groups(db)).values()) >= count and consumer.lag() == 0:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
        await consumer.stop()

    await run_until(20, commit=False)
    await run_until(20, commit=True)
    g = await groups(db)
    assert sorted(x.count for x in g.values()) == [6, 7, 7]
    await producer.stop()
