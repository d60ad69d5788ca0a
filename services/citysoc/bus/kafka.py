"""``KafkaBus``: the bus on Apache Kafka, Redpanda or Tansu, through aiokafka.

Choices, and why:

* Producer: ``acks="all"``, ``enable_idempotence=False`` (Tansu has no ``InitProducerId``; records
  carry their own ids and every write downstream is idempotent, so at-least-once is enough). aiokafka
  keeps one in-flight batch per partition, so retries cannot reorder a key's records. The send buffer
  is bounded (one open batch of ``max_batch_size`` bytes per partition; ``send`` waits when it is full).
* Consumer: ``enable_auto_commit=False`` and ``auto_offset_reset="earliest"``: a group resumes after
  its committed offsets, and a new group reads everything still retained. Fetches are bounded by
  ``max_records`` and ``fetch_max_bytes``. Never ``end_offsets``/``seek_to_end``/``"latest"``: Tansu's
  ListOffsets(latest) is wrong, so lag comes from the fetch high-water mark.
* Topics are created on first use (``ensure_topics``, ``BusSettings.partitions`` partitions) like on
  the memory bus; "already exists" is fine, and so is a broker that forbids CreateTopics to us (the
  topics are then expected to be provisioned, see ``deploy/``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CommitFailedError,
    IllegalStateError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)
from aiokafka.structs import OffsetAndMetadata

from citysoc.bus.base import Bus, Message, Record
from citysoc.core.config import BusSettings

log = logging.getLogger(__name__)

_TOLERATED_CREATE_ERRORS = {
    0,
    TopicAlreadyExistsError.errno,
    TopicAuthorizationFailedError.errno,
    ClusterAuthorizationFailedError.errno,
}


async def ensure_topics(
    settings: BusSettings, names: Iterable[str], partitions: int | None = None, replication_factor: int = 1
) -> None:
    """Create the topics that do not exist yet (``partitions`` defaults to ``settings.partitions``).

    Existing topics are left as they are (their partition count is not checked). A refusal for lack
    of rights is logged, not raised; any other broker error raises ``aiokafka.errors.KafkaError``.
    Production clusters should pre-create topics with a real replication factor (``deploy/``).
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    count = partitions or settings.partitions
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="citysoc-admin")
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(n, count, replication_factor) for n in wanted])
    finally:
        await admin.close()
    for entry in response.topic_errors:
        topic, code = entry[0], entry[1]
        text = entry[2] if len(entry) > 2 else None
        if code not in _TOLERATED_CREATE_ERRORS:
            raise for_code(code)(f"cannot create topic {topic!r}: {text or ''}")
        if code != 0 and code != TopicAlreadyExistsError.errno:
            log.warning("not allowed to create topic %r (%s); assuming it is provisioned", topic, text)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not log "exception was never retrieved"


class KafkaBus:
    """Factory of aiokafka-backed producers and consumers for one cluster."""

    def __init__(
        self, settings: BusSettings, *, create_topics: bool = True, client_id: str = "citysoc"
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self._create_topics = create_topics
        self._ensured: set[str] = set()
        self._ensure_lock = asyncio.Lock()

    def producer(self) -> KafkaProducer:
        return KafkaProducer(self)

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        return KafkaConsumer(self, group, tuple(dict.fromkeys(topics)))

    async def ensure(self, topics: Iterable[str]) -> None:
        """Create ``topics`` once per bus object (a no-op with ``create_topics=False``)."""
        if not self._create_topics:
            return
        missing = [t for t in topics if t not in self._ensured]
        if not missing:
            return
        async with self._ensure_lock:
            missing = [t for t in missing if t not in self._ensured]
            if missing:
                await ensure_topics(self.settings, missing)
                self._ensured.update(missing)


class KafkaProducer:
    """``Producer`` on aiokafka: a batch is acknowledged (acks=all) as a whole before ``produce`` returns."""

    def __init__(self, bus: KafkaBus) -> None:
        self._bus = bus
        self._producer: Any = None
        self._send_lock = asyncio.Lock()

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bus.settings.bootstrap_servers,
            client_id=self._bus.client_id,
            acks="all",
            enable_idempotence=False,
            linger_ms=5,  # a little batching without adding visible latency
            max_batch_size=256 * 1024,
        )
        await producer.start()
        self._producer = producer

    async def produce(self, topic: str, records: Sequence[Record]) -> None:
        """Send every record, then wait for all acknowledgements; raise the first failure.

        On failure some records may already be stored: the caller retries the whole batch and the
        duplicates are absorbed downstream (records carry ids), which is the at-least-once contract.
        """
        if self._producer is None:
            raise RuntimeError("producer is not started")
        if not records:
            return
        await self._bus.ensure([topic])
        futures: list[asyncio.Future[Any]] = []
        try:
            # Batches may be produced concurrently (the collector pipelines them); the lock keeps each
            # batch's records contiguous in send order, so records of one key stay ordered, while the
            # acknowledgements of several batches are awaited in parallel below.
            async with self._send_lock:
                for r in records:  # ``send`` waits while the partition's buffer is full (backpressure)
                    futures.append(await self._producer.send(topic, value=r.value, key=r.key))
        except BaseException:
            for f in futures:  # the caller sees the send error; the acks still pending are moot
                f.add_done_callback(_ignore_outcome)
            raise
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered


class KafkaConsumer:
    """``Consumer`` on aiokafka: one member of a Kafka consumer group, committing explicitly."""

    def __init__(self, bus: KafkaBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self._consumer: Any = None
        self._positions: dict[TopicPartition, int] = {}
        """Delivered position per partition, refreshed at each poll (for the synchronous ``lag``)."""

    async def start(self) -> None:
        """Create missing topics, then join the group (aiokafka waits for the first assignment)."""
        if self._consumer is not None:
            return
        s = self._bus.settings
        await self._bus.ensure(self.topics)
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=s.bootstrap_servers,
            client_id=self._bus.client_id,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=1024 * 1024,
        )
        await consumer.start()
        self._consumer = consumer

    def _started(self) -> Any:
        if self._consumer is None:
            raise RuntimeError("consumer is not started")
        return self._consumer

    def assignment(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this member owns now (not part of the ``Consumer`` protocol)."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Up to ``max_records`` messages (partition order kept); ``[]`` after ``timeout_s`` without any."""
        consumer = self._started()
        batches = await consumer.getmany(
            timeout_ms=max(int(timeout_s * 1000), 0), max_records=max(max_records, 1)
        )
        out = [
            Message(tp.topic, tp.partition, r.offset, r.key or b"", r.value or b"")
            for tp, records in batches.items()
            for r in records
        ]
        await self._refresh_positions(consumer)
        return out

    async def _refresh_positions(self, consumer: Any) -> None:
        positions: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            if consumer.highwater(tp) is None:
                continue  # not fetched yet: neither side of the lag is known
            try:
                # Immediate when the fetch position is valid; during a reset, keep the old value.
                positions[tp] = await asyncio.wait_for(consumer.position(tp), timeout=0.05)
            except (TimeoutError, IllegalStateError):
                if tp in self._positions:
                    positions[tp] = self._positions[tp]
        self._positions = positions

    async def commit(self, messages: Sequence[Message]) -> None:
        """Commit, per partition, the offset after the highest message given.

        Partitions this member lost to a rebalance are skipped (their new owner restarted from the
        committed offset and redelivers them: at-least-once); other broker errors raise.
        """
        consumer = self._started()
        offsets: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        owned = consumer.assignment()
        lost = [tp for tp in offsets if tp not in owned]
        if lost:
            log.info("group %s: not committing partitions lost to a rebalance: %s", self.group, lost)
        to_commit = {tp: OffsetAndMetadata(off, "") for tp, off in offsets.items() if tp in owned}
        if not to_commit:
            return
        try:
            await consumer.commit(to_commit)
        except (CommitFailedError, IllegalStateError) as e:
            log.warning(
                "group %s: commit dropped by a rebalance, messages will be redelivered: %s", self.group, e
            )

    def lag(self) -> int:
        """Messages in owned partitions past the delivered position, as of the last ``poll``.

        Uses the high-water mark from fetch responses (Tansu's ListOffsets(latest) is unreliable);
        partitions not fetched yet count as 0.
        """
        consumer = self._consumer
        if consumer is None:
            return 0
        total = 0
        for tp in consumer.assignment():
            high, pos = consumer.highwater(tp), self._positions.get(tp)
            if high is not None and pos is not None:
                total += max(high - pos, 0)
        return total

    async def stop(self) -> None:
        """Leave the group without committing anything."""
        consumer, self._consumer = self._consumer, None
        self._positions = {}
        if consumer is not None:
            await consumer.stop()


if TYPE_CHECKING:  # mypy proves the classes satisfy the protocols of citysoc.bus.base
    _bus: Bus = KafkaBus(BusSettings())
