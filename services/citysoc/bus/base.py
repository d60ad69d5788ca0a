"""The bus contract. Kafka (``citysoc.bus.kafka``) and the in-process twin (``citysoc.bus.memory``)
both satisfy it, and ``tests/bus/test_contract.py`` runs the same suite against both.

Semantics (those of a Kafka consumer group, at-least-once):

* ``Producer.produce`` returns only once every record is acknowledged by the bus (Kafka: acks=all).
  Records with the same key go to the same partition and keep their order.
* ``Consumer.poll`` returns up to ``max_records`` messages (possibly none after ``timeout_s``).
  Delivery resumes after the group's committed offsets; nothing is committed implicitly.
* ``Consumer.commit(messages)`` commits, per partition, the offset after the highest message given.
  A consumer that stops without committing gets the same messages again (same key, value, offset).
* Every buffer is bounded: a producer facing a full bus waits (backpressure), it never drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


class Producer(Protocol):
    async def start(self) -> None: ...

    async def produce(self, topic: str, records: Sequence[Record]) -> None:
        """Send and wait until every record is acknowledged."""
        ...

    async def stop(self) -> None: ...


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]: ...

    async def commit(self, messages: Sequence[Message]) -> None: ...

    def assignment(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this member owns now (changes with group rebalances)."""
        ...

    def lag(self) -> int:
        """Messages known to be in assigned partitions past the committed/consumed position."""
        ...

    async def stop(self) -> None: ...


class Bus(Protocol):
    """A factory for producers and consumers on one bus."""

    def producer(self) -> Producer: ...

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer: ...


def record_key(agency: str, host: str) -> bytes:
    """Records are keyed by agency and host so one host's events stay ordered."""
    return f"{agency}\x1f{host}".encode()
