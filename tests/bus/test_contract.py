"""One contract suite (``citysoc.bus.base``) run against ``MemoryBus`` and ``KafkaBus`` on real Tansu.

Each test uses its own topic prefix and group names, so tests sharing the session broker cannot see
each other's data. Kafka group joins take ~1 s on Tansu with the short session timeout used here;
the two tests where a fresh group's only member leaves and another joins take ~5 s, because Tansu
still names the departed member as leader of generation 1 until a rebalance timeout has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from citysoc.bus.base import Message, Record
from citysoc.bus.kafka import KafkaBus
from citysoc.bus.memory import MemoryBus, MemoryConsumer
from citysoc.core.config import BusSettings

pytestmark = pytest.mark.timeout(120)

FAST_GROUPS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}


class Harness:
    """A bus plus the producers/consumers a test started, all stopped at teardown."""

    def __init__(self, kind: str, settings: BusSettings, stack: contextlib.AsyncExitStack) -> None:
        self.kind = kind
        self.settings = settings
        self.bus: MemoryBus | KafkaBus = MemoryBus(settings) if kind == "memory" else KafkaBus(settings)
        self._stack = stack

    @property
    def memory(self) -> MemoryBus:
        assert isinstance(self.bus, MemoryBus)
        return self.bus

    def topic(self, name: str = "events") -> str:
        return self.settings.topic_prefix + name

    def group(self, name: str = "g") -> str:
        return self.settings.topic_prefix + name

    async def producer(self) -> Any:
        p = self.bus.producer()
        await p.start()
        self._stack.push_async_callback(p.stop)
        return p

    async def consumer(self, group: str, *topics: str) -> Any:
        c = self.bus.consumer(group, topics or (self.topic(),))
        self._stack.push_async_callback(c.stop)
        await c.start()
        return c


def _settings(kind: str, request: pytest.FixtureRequest, **overrides: Any) -> BusSettings:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    base: dict[str, Any] = {"kind": kind, "topic_prefix": prefix, "partitions": 4, **FAST_GROUPS}
    if kind == "kafka":
        base["bootstrap_servers"] = request.getfixturevalue("kafka_broker").bootstrap
    return BusSettings(**(base | overrides))


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
async def h(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with contextlib.AsyncExitStack() as stack:
        yield Harness(request.param, _settings(request.param, request), stack)


async def collect(consumer: Any, n: int, timeout_s: float = 20.0, commit: bool = False) -> list[Message]:
    """Poll until ``n`` messages arrived (or fail after ``timeout_s``)."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n:
        assert time.monotonic() < deadline, f"only {len(got)} of {n} messages after {timeout_s}s"
        batch = await consumer.poll(max_records=n - len(got), timeout_s=0.5)
        if commit and batch:
            await consumer.commit(batch)
        got.extend(batch)
    return got


def records(n: int, keys: Sequence[bytes] = (b"k0", b"k1", b"k2", b"k3", b"k4")) -> list[Record]:
    return [Record(keys[i % len(keys)], f"v{i}".encode()) for i in range(n)]


# -- the contract, on both buses ----------------------------------------------------------------


async def test_round_trip(h: Harness) -> None:
    produced = records(20)
    await (await h.producer()).produce(h.topic(), produced)
    got = await collect(await h.consumer(h.group()), 20)
    assert sorted((m.key, m.value) for m in got) == sorted((r.key, r.value) for r in produced)
    assert {m.topic for m in got} == {h.topic()}
    by_partition: dict[int, list[int]] = {}
    for m in got:
        assert 0 <= m.partition < h.settings.partitions
        by_partition.setdefault(m.partition, []).append(m.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))  # dense, increasing, from 0 in a new topic


async def test_same_key_same_partition_in_order(h: Harness) -> None:
    producer = await h.producer()
    await producer.produce(h.topic(), records(30, keys=[b"host-a", b"host-b", b"host-c"]))
    await producer.produce(h.topic(), records(9, keys=[b"host-a", b"host-b", b"host-c"]))
    got = await collect(await h.consumer(h.group()), 39)
    for key in (b"host-a", b"host-b", b"host-c"):
        mine = [m for m in got if m.key == key]
        assert len({m.partition for m in mine}) == 1
        assert [m.offset for m in mine] == sorted(m.offset for m in mine)
        values = [int(m.value[1:]) for m in mine]
        assert values[:10] == sorted(values[:10]) and values[10:] == sorted(values[10:])


async def test_concurrent_batches_keep_per_key_order(h: Harness) -> None:
    # The collector hands several batches to one producer at once: one key's records must still
    # come out in the order the batches were handed off.
    producer = await h.producer()
    batches = [[Record(b"host-a", f"{b}-{i}".encode()) for i in range(200)] for b in range(4)]
    await asyncio.gather(*(producer.produce(h.topic(), batch) for batch in batches))
    got = await collect(await h.consumer(h.group()), 800)
    assert [m.value for m in got] == [r.value for batch in batches for r in batch]


async def test_commit_then_new_consumer_resumes_after_it(h: Harness) -> None:
    await (await h.producer()).produce(h.topic(), records(10, keys=[b"one"]))
    first = await h.consumer(h.group())
    got = await collect(first, 10)
    await first.commit(got[:4])
    await first.stop()
    second = await h.consumer(h.group())
    rest = await collect(second, 6)
    assert [m.offset for m in rest] == list(range(4, 10))
    assert [m.value for m in rest] == [m.value for m in got[4:]]
    assert await second.poll(10, 0.3) == []


async def test_uncommitted_messages_are_redelivered(h: Harness) -> None:
    await (await h.producer()).produce(h.topic(), records(12))
    first = await h.consumer(h.group())
    got = await collect(first, 12)
    await first.stop()
    again = await collect(await h.consumer(h.group()), 12)
    as_set = {(m.partition, m.offset, m.key, m.value) for m in got}
    assert {(m.partition, m.offset, m.key, m.value) for m in again} == as_set


async def test_two_consumers_split_partitions_exactly_once(h: Harness) -> None:
    a = await h.consumer(h.group())
    b = await h.consumer(h.group())
    all_parts = {(h.topic(), p) for p in range(h.settings.partitions)}
    deadline = time.monotonic() + 20
    while True:  # Kafka rebalances in the background: wait until the split settles
        sa, sb = a.assignment(), b.assignment()
        if sa and sb and not sa & sb and sa | sb == all_parts:
            break
        assert time.monotonic() < deadline, f"no split: {sa} / {sb}"
        await asyncio.gather(a.poll(1, 0.1), b.poll(1, 0.1))
    keys = [f"host-{i}".encode() for i in range(16)]
    await (await h.producer()).produce(h.topic(), records(64, keys=keys))
    seen: dict[Any, list[Message]] = {a: [], b: []}
    deadline = time.monotonic() + 20
    while sum(len(v) for v in seen.values()) < 64:
        assert time.monotonic() < deadline
        for c in (a, b):
            batch = await c.poll(64, 0.2)
            if batch:
                await c.commit(batch)
            seen[c].extend(batch)
    assert seen[a] and seen[b]
    assert {(m.topic, m.partition) for m in seen[a]} <= sa
    assert {(m.topic, m.partition) for m in seen[b]} <= sb
    ids = [(m.partition, m.offset) for m in seen[a] + seen[b]]
    assert len(ids) == len(set(ids)) == 64
    assert await a.poll(10, 0.2) == [] and await b.poll(10, 0.2) == []


async def test_separate_groups_each_see_everything(h: Harness) -> None:
    # Both groups subscribe first: MemoryBus frees what every group *subscribed so far* committed
    # (Kafka would keep it until retention), so a group created later only sees what is still held.
    first, second = await h.consumer(h.group("one")), await h.consumer(h.group("two"))
    await (await h.producer()).produce(h.topic(), records(15))
    one = await collect(first, 15, commit=True)
    two = await collect(second, 15, commit=True)
    assert {(m.partition, m.offset) for m in one} == {(m.partition, m.offset) for m in two}


async def test_poll_timeout_returns_empty(h: Harness) -> None:
    consumer = await h.consumer(h.group())
    started = time.monotonic()
    assert await consumer.poll(max_records=10, timeout_s=0.3) == []
    assert 0.2 <= time.monotonic() - started < 5


async def test_lag_goes_to_zero_after_consuming(h: Harness) -> None:
    producer = await h.producer()
    await producer.produce(h.topic(), records(10, keys=[b"one"]))
    consumer = await h.consumer(h.group())
    await collect(consumer, 10, commit=True)
    assert consumer.lag() == 0
    await producer.produce(h.topic(), records(5, keys=[b"one"]))
    part = await collect(consumer, 2)  # one partition: 3 left behind, known from the fetch
    assert consumer.lag() == 3
    await consumer.commit(part + await collect(consumer, 3))
    assert consumer.lag() == 0


# -- MemoryBus only ----------------------------------------------------------------------------


def memory_harness(stack: contextlib.AsyncExitStack, **overrides: Any) -> Harness:
    s = {"topic_prefix": "m.", "partitions": 1, **overrides}
    return Harness("memory", BusSettings(kind="memory", **s), stack)


async def test_memory_backpressure_blocks_until_commit() -> None:
    async with contextlib.AsyncExitStack() as stack:
        h = memory_harness(stack, max_pending=5)
        consumer = await h.consumer("g")
        producer = await h.producer()
        send = asyncio.create_task(producer.produce(h.topic(), records(8)))
        await asyncio.sleep(0.05)
        assert not send.done() and h.memory.held(h.topic()) == 5  # waiting, nothing dropped
        first = await consumer.poll(10, 0.1)
        assert len(first) == 5
        await asyncio.sleep(0.05)
        assert not send.done()  # polled is not committed: still pinned
        await consumer.commit(first)
        await asyncio.wait_for(send, 1)
        rest = await collect(consumer, 3, commit=True)
        assert [m.value for m in first + rest] == [r.value for r in records(8)]
        assert h.memory.held(h.topic()) == 0


async def test_memory_batch_larger_than_max_pending_flows_through() -> None:
    async with contextlib.AsyncExitStack() as stack:
        h = memory_harness(stack, max_pending=3)
        consumer = await h.consumer("g")
        send = asyncio.create_task((await h.producer()).produce(h.topic(), records(10)))
        got = await collect(consumer, 10, timeout_s=2, commit=True)
        await asyncio.wait_for(send, 1)
        assert [m.offset for m in got] == list(range(10))


async def test_memory_topic_without_group_keeps_records_for_first_group() -> None:
    async with contextlib.AsyncExitStack() as stack:
        h = memory_harness(stack, max_pending=4)
        send = asyncio.create_task((await h.producer()).produce(h.topic(), records(6)))
        await asyncio.sleep(0.05)
        assert not send.done() and h.memory.held(h.topic()) == 4
        got = await collect(await h.consumer("late"), 6, timeout_s=2, commit=True)
        await asyncio.wait_for(send, 1)
        assert [m.offset for m in got] == list(range(6))


async def test_memory_trims_below_slowest_group() -> None:
    async with contextlib.AsyncExitStack() as stack:
        h = memory_harness(stack, max_pending=10_000)
        fast, slow = await h.consumer("fast"), await h.consumer("slow")
        await (await h.producer()).produce(h.topic(), records(1000))
        await collect(fast, 1000, commit=True)
        assert h.memory.retained(h.topic()) == 1000  # "slow" has committed nothing
        slow_got = await collect(slow, 600)
        await slow.commit(slow_got)
        assert h.memory.held(h.topic()) == 400 and h.memory.retained(h.topic()) == 400
        await slow.commit(await collect(slow, 400))
        assert h.memory.retained(h.topic()) == 0
        late = await h.consumer("late")  # a new group starts at the oldest record still held
        await (await h.producer()).produce(h.topic(), records(2))
        assert [m.offset for m in await collect(late, 2)] == [1000, 1001]


async def test_memory_commit_of_lost_partition_is_ignored() -> None:
    async with contextlib.AsyncExitStack() as stack:
        h = memory_harness(stack, partitions=2)
        a = await h.consumer("g")
        await (await h.producer()).produce(h.topic(), records(20, keys=[b"%d" % i for i in range(20)]))
        got = await collect(a, 20)
        b: MemoryConsumer = await h.consumer("g")  # rebalance: a keeps one partition
        await a.commit(got)
        (lost,) = b.assignment()
        assert h.memory.committed("g", *lost) == 0
        on_lost = [m for m in got if (m.topic, m.partition) == lost]
        assert on_lost and await collect(b, len(on_lost)) == on_lost


# -- Kafka only --------------------------------------------------------------------------------


@pytest.mark.integration
async def test_kafka_restart_keeps_messages_and_offsets(
    tmp_path: Path, dev_broker: Any, start_or_skip: Callable[..., Any]
) -> None:
    broker, directory = dev_broker, tmp_path / "restart"
    handle = await asyncio.to_thread(start_or_skip, directory)
    settings = BusSettings(kind="kafka", bootstrap_servers=handle.bootstrap, topic_prefix="r.", **FAST_GROUPS)
    try:
        async with contextlib.AsyncExitStack() as stack:
            h = Harness("kafka", settings, stack)
            await (await h.producer()).produce(h.topic(), records(10, keys=[b"one"]))
            consumer = await h.consumer("r.g")
            await consumer.commit((await collect(consumer, 10))[:4])
        await asyncio.to_thread(broker.stop_broker, handle)
        assert broker.broker_status(directory)["running"] is False
        handle = await asyncio.to_thread(broker.start_broker, directory)
        assert broker.broker_status(directory)["running"] is True
        settings = settings.model_copy(update={"bootstrap_servers": handle.bootstrap})
        async with contextlib.AsyncExitStack() as stack:
            h = Harness("kafka", settings, stack)
            resumed = await collect(await h.consumer("r.g"), 6)
            assert [m.offset for m in resumed] == list(range(4, 10))
            assert [m.value for m in resumed] == [f"v{i}".encode() for i in range(4, 10)]
            everything = await collect(await h.consumer("r.other"), 10)
            assert [m.offset for m in everything] == list(range(10))
    finally:
        await asyncio.to_thread(broker.stop_broker, handle, weed_grace_s=0.2)
