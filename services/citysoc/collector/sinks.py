"""Where the collector hands events off. ``put`` returns only once the batch is durable.

* :class:`BusSink` (Kafka mode): events to ``events.raw``, dead letters to ``events.dead``, keyed by
  agency and host, each batch acknowledged by the bus (acks=all) before ``put`` returns.
* :class:`StoreSink` (embedded mode): rows stored first (so HTTP can answer 202 on a stored batch),
  then the events are published on the in-process bus for detection. ``tracker`` records what is in
  flight so the detection watermark never passes a stored-but-unevaluated event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from citysoc.bus.base import Producer, Record, record_key
from citysoc.core.config import BusSettings
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event
from citysoc.core.watermark import PendingTracker
from citysoc.store.base import Store


class Sink(Protocol):
    async def put(self, events: Sequence[Event], dead: Sequence[DeadLetter]) -> None: ...


def event_records(events: Sequence[Event]) -> list[Record]:
    return [Record(record_key(e.agency, e.source_host), e.to_json()) for e in events]


def dead_records(dead: Sequence[DeadLetter]) -> list[Record]:
    return [Record(record_key(d.agency, d.source_ip), d.to_json()) for d in dead]


class BusSink:
    def __init__(self, producer: Producer, settings: BusSettings) -> None:
        self._producer = producer
        self._raw = settings.topic("events.raw")
        self._dead = settings.topic("events.dead")

    async def put(self, events: Sequence[Event], dead: Sequence[DeadLetter]) -> None:
        sends = []
        if events:
            sends.append(self._producer.produce(self._raw, event_records(events)))
        if dead:
            sends.append(self._producer.produce(self._dead, dead_records(dead)))
        await asyncio.gather(*sends)


class StoreSink:
    def __init__(
        self, store: Store, producer: Producer, settings: BusSettings, tracker: PendingTracker
    ) -> None:
        self._store = store
        self._producer = producer
        self._raw = settings.topic("events.raw")
        self._tracker = tracker

    async def put(self, events: Sequence[Event], dead: Sequence[DeadLetter]) -> None:
        if dead:
            await asyncio.to_thread(self._store.insert_dead_letters, dead)
        if not events:
            return
        self._tracker.begin(events)
        try:
            await asyncio.to_thread(self._store.insert_events, events)
        except BaseException:
            self._tracker.abandon(events)
            raise
        # Stored: from here the watermark keeps these events due for detection even if we crash.
        await self._producer.produce(self._raw, event_records(events))
