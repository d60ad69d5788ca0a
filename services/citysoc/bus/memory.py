"""``MemoryBus``: the in-process twin of the Kafka bus, with consumer-group semantics.

Model (what ``tests/bus/test_contract.py`` checks against both buses):

* A topic is created on first use (produce or subscribe) with ``BusSettings.partitions`` partitions.
  A record goes to partition ``crc32(key) % partitions``: the same key always lands on the same
  partition, in produce order. Offsets start at 0 and grow by one per partition.
* A group has one committed offset per (topic, partition). When a group first subscribes to a topic
  it starts at the oldest record still held (``auto_offset_reset="earliest"``), and from then on it
  pins every record it has not committed. Groups outlive their consumers, as Kafka's do.
* The consumers of a group split the partitions of the topics they subscribe to (partition ``p`` of a
  topic goes to member ``p % n`` of its subscribers, in join order). Any join or leave rebalances the
  group: every member then resumes each assigned partition from the group's committed offset, so
  messages polled but not committed are delivered again (as with Kafka's eager rebalancing).
* ``commit`` only applies to partitions the consumer currently owns; a commit for a partition lost to
  a rebalance is ignored, because its new owner already restarted from the committed offset (Kafka
  fences such commits by generation). The messages are then redelivered: at-least-once.
* Memory stays bounded, per topic: records below the lowest committed offset of all groups that
  subscribed to the topic are dropped, and a producer waits while the topic holds ``max_pending``
  records or more (records are appended as room appears, so a batch larger than ``max_pending``
  flows through a single producer/consumer pair instead of deadlocking it). A topic no group has
  subscribed to yet keeps its records for the first group to come, so after ``max_pending`` records
  its producers wait until a group subscribes and commits. Nothing is ever dropped unconsumed.

Everything runs on one event loop; waits use an ``asyncio.Event`` per change, never a busy loop.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from citysoc.bus.base import Bus, Message, Record
from citysoc.core.config import BusSettings

TopicPartition = tuple[str, int]

# Physical trimming copies the log tail; doing it only once this many records are dead keeps commit
# O(1) amortised. Accounting (``_Topic.held``) is exact regardless.
_TRIM_SLACK = 256


@dataclass(slots=True)
class _Partition:
    base: int = 0
    """Offset of ``log[0]``."""
    floor: int = 0
    """Lowest offset any subscribed group may still read; ``base <= floor <= end``."""
    log: list[Message] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.base + len(self.log)

    def read(self, position: int, limit: int) -> list[Message]:
        start = max(position, self.base) - self.base
        return self.log[start : start + limit]


@dataclass(slots=True)
class _Topic:
    name: str
    partitions: list[_Partition]
    groups: set[str] = field(default_factory=set)

    @property
    def held(self) -> int:
        """Records some subscribed group has not committed yet (all records if no group yet)."""
        return sum(p.end - p.floor for p in self.partitions)


@dataclass(slots=True)
class _Group:
    name: str
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class MemoryBus:
    """A bounded in-process bus; see the module docstring for the exact semantics."""

    def __init__(self, settings: BusSettings | None = None) -> None:
        self.settings = settings or BusSettings()
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._changed = asyncio.Event()

    # -- factory (the Bus protocol) -------------------------------------------------------------
    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        return MemoryConsumer(self, group, tuple(dict.fromkeys(topics)))

    # -- introspection for tests and metrics ----------------------------------------------------
    def held(self, topic: str) -> int:
        """Records of ``topic`` still pinned by a group (what counts against ``max_pending``)."""
        t = self._topics.get(topic)
        return t.held if t else 0

    def retained(self, topic: str) -> int:
        """Records of ``topic`` physically in memory (``held`` plus at most a trim slack)."""
        t = self._topics.get(topic)
        return sum(len(p.log) for p in t.partitions) if t else 0

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        g = self._groups.get(group)
        return g.committed.get((topic, partition)) if g else None

    # -- internals ------------------------------------------------------------------------------
    def _notify(self) -> None:
        """Wake every waiter; each waits on the event current when it checked its condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout_s: float | None) -> None:
        event = self._changed
        if timeout_s is None:
            await event.wait()
            return
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await event.wait()
        except TimeoutError:
            pass

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            parts = [_Partition() for _ in range(self.settings.partitions)]
            topic = self._topics[name] = _Topic(name, parts)
        return topic

    def _partition_for(self, topic: _Topic, key: bytes) -> int:
        return zlib.crc32(key) % len(topic.partitions)

    async def _produce(self, topic_name: str, records: Sequence[Record]) -> None:
        topic = self._topic(topic_name)
        limit = self.settings.max_pending
        i = 0
        while i < len(records):
            room = limit - topic.held
            if room <= 0:
                await self._wait_change(None)
                continue
            for r in records[i : i + room]:
                part_no = self._partition_for(topic, r.key)
                part = topic.partitions[part_no]
                part.log.append(Message(topic_name, part_no, part.end, r.key, r.value))
            i += room
            self._notify()

    def _join(self, consumer: MemoryConsumer) -> None:
        group = self._groups.setdefault(consumer.group, _Group(consumer.group))
        for name in consumer.topics:
            topic = self._topic(name)
            if consumer.group not in topic.groups:
                topic.groups.add(consumer.group)
                for p_no, part in enumerate(topic.partitions):
                    group.committed.setdefault((name, p_no), part.floor)
                self._retrim(topic)
        group.members.append(consumer)
        self._rebalance(group)

    def _leave(self, consumer: MemoryConsumer) -> None:
        group = self._groups[consumer.group]
        group.members.remove(consumer)
        self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        for m in group.members:
            m._assigned.clear()
        topics = sorted({t for m in group.members for t in m.topics})
        for name in topics:
            eligible = [m for m in group.members if name in m.topics]
            for p_no in range(len(self._topics[name].partitions)):
                member = eligible[p_no % len(eligible)]
                member._assigned[(name, p_no)] = group.committed[(name, p_no)]
        self._notify()

    def _commit(self, consumer: MemoryConsumer, offsets: dict[TopicPartition, int]) -> None:
        group = self._groups[consumer.group]
        touched: set[str] = set()
        for tp, offset in offsets.items():
            if tp not in consumer._assigned:
                continue  # lost to a rebalance: the new owner restarted from the committed offset
            group.committed[tp] = offset
            touched.add(tp[0])
        for name in touched:
            self._retrim(self._topics[name])
        if touched:
            self._notify()

    def _retrim(self, topic: _Topic) -> None:
        """Move each partition's floor to the slowest subscribed group and free the dead records."""
        if not topic.groups:
            return
        for p_no, part in enumerate(topic.partitions):
            floor = min(self._groups[g].committed.get((topic.name, p_no), part.floor) for g in topic.groups)
            part.floor = min(max(floor, part.base), part.end)
            dead = part.floor - part.base
            if dead >= _TRIM_SLACK or (dead and dead == len(part.log)):
                del part.log[:dead]
                part.base = part.floor


class MemoryProducer:
    """``Producer`` for ``MemoryBus``: ``produce`` returns once every record is in the log."""

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._started = False
        self._send_lock = asyncio.Lock()

    async def start(self) -> None:
        self._started = True

    async def produce(self, topic: str, records: Sequence[Record]) -> None:
        """Append ``records`` in order; waits (never drops) while ``topic`` is full.

        Concurrent calls are appended one whole batch after another, in call order, as the Kafka
        producer sends them, so records of one key stay ordered across batches.
        """
        if not self._started:
            raise RuntimeError("producer is not started")
        async with self._send_lock:
            await self._bus._produce(topic, records)

    async def stop(self) -> None:
        self._started = False


class MemoryConsumer:
    """``Consumer`` for ``MemoryBus``: one member of a consumer group."""

    def __init__(self, bus: MemoryBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self._assigned: dict[TopicPartition, int] = {}
        """Owned partitions and the next offset to deliver from each."""
        self._started = False
        self._rotation = 0

    async def start(self) -> None:
        """Join the group (creating topics as needed); partitions are assigned at once."""
        if self._started:
            return
        self._started = True
        self._bus._join(self)

    def assignment(self) -> set[TopicPartition]:
        """(topic, partition) pairs this consumer owns now (not part of the ``Consumer`` protocol)."""
        return set(self._assigned)

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Up to ``max_records`` messages from owned partitions; ``[]`` after ``timeout_s`` without any."""
        if not self._started:
            raise RuntimeError("consumer is not started")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            batch = self._take(max(max_records, 1))
            if batch or not self._started:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._bus._wait_change(remaining)

    def _take(self, max_records: int) -> list[Message]:
        batch: list[Message] = []
        owned = sorted(self._assigned)
        if not owned:
            return batch
        # Start at a rotating partition so one busy partition cannot starve the others.
        self._rotation = (self._rotation + 1) % len(owned)
        for tp in owned[self._rotation :] + owned[: self._rotation]:
            part = self._bus._topics[tp[0]].partitions[tp[1]]
            got = part.read(self._assigned[tp], max_records - len(batch))
            if got:
                batch.extend(got)
                self._assigned[tp] = got[-1].offset + 1
            if len(batch) >= max_records:
                break
        return batch

    async def commit(self, messages: Sequence[Message]) -> None:
        """Commit, per owned partition, the offset after the highest message given."""
        if not self._started:
            raise RuntimeError("consumer is not started")
        offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = (m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        self._bus._commit(self, offsets)

    def lag(self) -> int:
        """Records in owned partitions past this consumer's delivered position."""
        topics = self._bus._topics
        return sum(max(topics[t].partitions[p].end - pos, 0) for (t, p), pos in self._assigned.items())

    async def stop(self) -> None:
        """Leave the group without committing: its partitions resume from the committed offsets."""
        if not self._started:
            return
        self._started = False
        self._bus._leave(self)
        self._assigned.clear()


if TYPE_CHECKING:  # mypy proves the classes satisfy the protocols of citysoc.bus.base
    _bus: Bus = MemoryBus()
