"""Consumer lag from the fetch responses' high watermarks and the consumer's position; the
broker's ListOffsets only for partitions not being fetched, and never once it answered low."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from socd.source.lag import STALE_MS, LagMeter

NOW_MS = 1_800_000_000_000.0
FRESH = NOW_MS - 100          # a fetch response 0.1 s ago
STALE = NOW_MS - STALE_MS - 1  # none for longer than STALE_MS: paused, or records waiting


@dataclass
class Partition:
    highwater: int | None = None   # None: never fetched
    polled_ms: float | None = None
    position: int | None = 0       # None: being reset (position() waits)
    end: int = 0                   # what ListOffsets answers


@dataclass
class FakeConsumer:
    """The four calls of aiokafka's consumer that LagMeter makes."""

    partitions: dict[TopicPartition, Partition]
    list_offsets_asked: list[list[TopicPartition]] = field(default_factory=list)
    list_offsets_error: Exception | None = None

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.partitions[tp].highwater

    def last_poll_timestamp(self, tp: TopicPartition) -> int | None:
        polled = self.partitions[tp].polled_ms
        return None if polled is None else int(polled)

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.partitions:
            raise IllegalStateError(f"Partition {tp} is not assigned")
        position = self.partitions[tp].position
        if position is None:
            await asyncio.Event().wait()  # as aiokafka while a reset is pending
        assert position is not None
        return position

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.list_offsets_asked.append(sorted(tps))
        if self.list_offsets_error is not None:
            raise self.list_offsets_error
        return {tp: self.partitions[tp].end for tp in tps}


def tp(partition: int, topic: str = "t") -> TopicPartition:
    return TopicPartition(topic, partition)


async def measure(consumer: FakeConsumer, meter: LagMeter | None = None,
                  partitions: list[TopicPartition] | None = None) -> dict[tuple[str, int], int]:
    meter = meter or LagMeter(consumer, clock_ms=lambda: NOW_MS)
    return await meter.measure(list(consumer.partitions) if partitions is None else partitions)


async def test_lag_is_the_fetched_high_watermark_less_the_position() -> None:
    """Each fetched partition: high watermark - position; a partition never fetched has no
    lag at all (unknown), not 0; a fresh watermark needs no ListOffsets."""
    consumer = FakeConsumer({
        tp(0): Partition(highwater=120, polled_ms=FRESH, position=100),
        tp(1): Partition(highwater=7, polled_ms=FRESH, position=7),
        tp(2): Partition(highwater=None, polled_ms=None, position=0, end=50),
    })
    assert await measure(consumer) == {("t", 0): 20, ("t", 1): 0}
    assert consumer.list_offsets_asked == []


async def test_listoffsets_answering_1_does_not_change_the_lag() -> None:
    """Tansu answers 1 for the latest offset of every partition: the lag stays the one of
    the fetch responses (the example of issue 10)."""
    consumer = FakeConsumer({tp(0): Partition(highwater=500, polled_ms=FRESH, position=200,
                                              end=1)})
    assert await measure(consumer) == {("t", 0): 300}


async def test_a_partition_not_fetched_for_a_while_gets_the_brokers_latest_offset() -> None:
    """Paused (Elasticsearch down): no fetch response, so ListOffsets is asked for that
    partition alone, and the lag grows with what the sensors produce meanwhile."""
    consumer = FakeConsumer({
        tp(0): Partition(highwater=100, polled_ms=STALE, position=100, end=160),
        tp(1): Partition(highwater=100, polled_ms=FRESH, position=90, end=999),
    })
    assert await measure(consumer) == {("t", 0): 60, ("t", 1): 10}
    assert consumer.list_offsets_asked == [[tp(0)]]


async def test_a_broker_answering_below_a_fetched_watermark_is_not_asked_again() -> None:
    """A ListOffsets answer below a fetch response's watermark is wrong (Tansu): it is
    ignored, said once, and the broker is not asked again; the fetched watermarks count."""
    consumer = FakeConsumer({
        tp(0): Partition(highwater=100, polled_ms=STALE, position=40, end=1),
        tp(1): Partition(highwater=0, polled_ms=STALE, position=0, end=1),
    })
    meter = LagMeter(consumer, clock_ms=lambda: NOW_MS)
    assert await measure(consumer, meter) == {("t", 0): 60, ("t", 1): 0}
    assert not meter.list_offsets_trusted
    assert await measure(consumer, meter) == {("t", 0): 60, ("t", 1): 0}
    assert consumer.list_offsets_asked == [[tp(0), tp(1)]]


@pytest.mark.parametrize("error", [KafkaTimeoutError(), IllegalStateError("gone")])
async def test_listoffsets_failing_leaves_the_fetched_watermarks(error: Exception) -> None:
    """A failed ListOffsets costs nothing but freshness: the fetched watermark is used, and
    the broker is asked again next time."""
    consumer = FakeConsumer({tp(0): Partition(highwater=100, polled_ms=STALE, position=40,
                                              end=300)}, list_offsets_error=error)
    meter = LagMeter(consumer, clock_ms=lambda: NOW_MS)
    assert await measure(consumer, meter) == {("t", 0): 60}
    assert meter.list_offsets_trusted
    consumer.list_offsets_error = None
    assert await measure(consumer, meter) == {("t", 0): 260}


async def test_a_position_being_reset_or_a_partition_gone_is_left_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A partition whose position is being reset (position() would wait), or that is no
    longer assigned when its position is asked, has no value this time."""
    monkeypatch.setattr("socd.source.lag.POSITION_TIMEOUT_S", 0.01)
    consumer = FakeConsumer({
        tp(0): Partition(highwater=100, polled_ms=FRESH, position=None),
        tp(1): Partition(highwater=100, polled_ms=FRESH, position=30),
    })
    meter = LagMeter(consumer, clock_ms=lambda: NOW_MS)
    gone = tp(2, "gone")
    consumer.partitions[gone] = Partition(highwater=5, polled_ms=FRESH)

    async def forget_gone() -> None:
        await asyncio.sleep(0)
        del consumer.partitions[gone]

    forgetting = asyncio.ensure_future(forget_gone())
    assert await measure(consumer, meter, [tp(0), gone, tp(1)]) == {("t", 1): 70}
    await forgetting


async def test_a_position_past_the_watermark_is_no_lag() -> None:
    """A position ahead of an older watermark (records consumed after that response) gives
    0, never a negative lag."""
    consumer = FakeConsumer({tp(0): Partition(highwater=10, polled_ms=FRESH, position=12)})
    assert await measure(consumer) == {("t", 0): 0}


@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 10**12)),   # fetched watermark
                          st.booleans(),                                  # stale
                          st.integers(0, 10**12),                         # position
                          st.integers(0, 10**12)),                        # ListOffsets
                min_size=1, max_size=8))
def test_lag_property(parts: list[tuple[int | None, bool, int, int]]) -> None:
    """Whatever the offsets: a lag for exactly the fetched partitions, never negative, from
    the fetched watermark, raised by ListOffsets only where the partition is stale and no
    answer fell below its watermark."""
    consumer = FakeConsumer({
        tp(i): Partition(highwater=high, polled_ms=STALE if stale else FRESH,
                         position=position, end=end)
        for i, (high, stale, position, end) in enumerate(parts)})
    lags = asyncio.run(measure(consumer))
    fetched = {i for i, (high, *_) in enumerate(parts) if high is not None}
    assert set(lags) == {("t", i) for i in fetched}
    trusted = all(end >= high for high, stale, _, end in parts
                  if high is not None and stale)
    for i in fetched:
        high, stale, position, end = parts[i]
        assert high is not None
        watermark = max(high, end) if stale and trusted else high
        assert lags[("t", i)] == max(watermark - position, 0)
