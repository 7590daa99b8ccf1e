"""Consumer lag: per partition, how many messages socd has not consumed yet.

``lag = high watermark - position``, the consumer's own measure of lag (Kafka's Java
consumer computes its ``records-lag`` metric the same way), where

* the **position** is the offset of the next record the consumer hands to socd (aiokafka's
  ``position()``): one past the last record ``fetch()`` returned, and past transaction
  markers, which no fetch returns;
* the **high watermark** is the offset the next message produced to the partition will get,
  as the last fetch response for the partition carried it (aiokafka's ``highwater()``).
  Fetch responses are used rather than ListOffsets because some brokers answer ListOffsets
  wrongly (Tansu 0.6 answers 1 for the latest offset of any partition).

While a partition is not fetched — paused because Elasticsearch is down, or while records
fetched ahead wait to be consumed — no fetch response comes, and its watermark ages while
the sensors keep producing. Once the last response is older than :data:`STALE_MS`, the
broker is asked (ListOffsets, latest) and the larger answer is used, so that the lag keeps
growing during an outage. A broker that once answers *below* a fetched watermark (which a
correct broker never does) is not asked again: from then on the fetched watermarks alone
count, and the lag of a partition that is not being fetched stays at its last value.

A partition never fetched since it was assigned has no lag (unknown, not 0).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from typing import Protocol

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from socd.telemetry.logging import get_logger

log = get_logger("socd.source")

STALE_MS = 5_000
"""A fetched high watermark older than this (ms) is checked with ListOffsets."""
LIST_OFFSETS_TIMEOUT_S = 5.0
"""How long one ListOffsets round may take before the fetched watermarks are used alone."""
POSITION_TIMEOUT_S = 1.0
"""How long to wait for a position being reset (after OffsetOutOfRange, for instance)."""

Partition = tuple[str, int]


class ConsumerView(Protocol):
    """The part of :class:`aiokafka.AIOKafkaConsumer` that lag is measured from."""

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def last_poll_timestamp(self, partition: TopicPartition) -> int | None: ...

    async def position(self, partition: TopicPartition) -> int: ...

    async def end_offsets(self, partitions: list[TopicPartition]
                          ) -> dict[TopicPartition, int]: ...


class LagMeter:
    """Measures the lag of a consumer's partitions; remembers whether ListOffsets is right."""

    def __init__(self, consumer: ConsumerView,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000) -> None:
        self._consumer = consumer
        self._clock_ms = clock_ms
        self.list_offsets_trusted = True
        """False once the broker answered ListOffsets below a fetched high watermark."""

    async def measure(self, partitions: Collection[TopicPartition]) -> dict[Partition, int]:
        """(topic, partition) → messages not yet consumed (>= 0), for each of ``partitions``
        (assigned to the consumer) whose high watermark is known and position valid."""
        consumer = self._consumer
        now_ms = self._clock_ms()
        high: dict[TopicPartition, int] = {}
        stale: list[TopicPartition] = []
        for tp in partitions:
            watermark = consumer.highwater(tp)
            if watermark is None:
                continue  # never fetched: unknown, which is not 0
            high[tp] = watermark
            polled = consumer.last_poll_timestamp(tp)
            if polled is None or now_ms - polled > STALE_MS:
                stale.append(tp)
        if stale and self.list_offsets_trusted:
            await self._refresh(stale, high)
        lags: dict[Partition, int] = {}
        for tp, watermark in high.items():
            try:
                position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_S)
            except (TimeoutError, KafkaError):
                continue  # being reset or no longer assigned: the next round tells
            lags[(tp.topic, tp.partition)] = max(watermark - position, 0)
        return lags

    async def _refresh(self, stale: list[TopicPartition],
                       high: dict[TopicPartition, int]) -> None:
        """Raise the stale watermarks in ``high`` to the broker's latest offsets."""
        try:
            latest = await asyncio.wait_for(self._consumer.end_offsets(stale),
                                            LIST_OFFSETS_TIMEOUT_S)
        except (TimeoutError, KafkaError) as exc:
            log.warning("consumer_lag_list_offsets_failed", error=str(exc) or type(exc).__name__)
            return
        below = sorted(f"{tp.topic}/{tp.partition}" for tp, offset in latest.items()
                       if tp in high and offset < high[tp])
        if below:
            self.list_offsets_trusted = False
            log.warning("consumer_lag_list_offsets_wrong", partitions=below[:10],
                        note="the broker answers ListOffsets below the high watermark of its "
                             "own fetch responses: the lag of partitions not being fetched "
                             "(paused) stays at its last value")
            return
        for tp, offset in latest.items():
            if tp in high:
                high[tp] = max(high[tp], offset)
