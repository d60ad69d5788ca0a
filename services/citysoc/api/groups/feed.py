"""Scaled mode: the API process feeds alert groups from the alerts topic.

At-least-once: offsets are committed only after the groups are written, so a crash redelivers and
``ingest_alerts`` (idempotent per alert id) counts nothing twice. A record that is not an alert is
logged and skipped (it can never become one). A failing database pauses the feed with backoff; it
never drops a batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from citysoc.api.groups.service import ingest_alerts
from citysoc.bus.base import Consumer
from citysoc.core.alert import Alert
from citysoc.db import Database

log = logging.getLogger("citysoc.api.groups")


async def run_group_feed(
    consumer: Consumer,
    db: Database,
    key_fields: Sequence[str],
    *,
    stop: asyncio.Event,
    batch_max: int = 500,
    poll_timeout_s: float = 0.5,
    max_backoff_s: float = 10.0,
) -> None:
    while not stop.is_set():
        messages = await consumer.poll(batch_max, poll_timeout_s)
        if not messages:
            continue
        alerts: list[Alert] = []
        for m in messages:
            try:
                alerts.append(Alert.from_json(m.value))
            except (ValueError, KeyError, TypeError) as e:
                log.warning(
                    "alerts topic %s[%d]@%d: not an alert (%s); skipped", m.topic, m.partition, m.offset, e
                )
        backoff = 0.1
        while True:
            try:
                await ingest_alerts(db, alerts, key_fields)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning(
                    "alert groups: write failed (%s: %s); retrying in %.1fs", type(e).__name__, e, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff_s)
        await consumer.commit(messages)
